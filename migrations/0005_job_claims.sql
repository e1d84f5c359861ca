CREATE TABLE "job_claims" (
	"job" text PRIMARY KEY NOT NULL,
	"slot" timestamp(6) with time zone NOT NULL,
	"result" jsonb
);

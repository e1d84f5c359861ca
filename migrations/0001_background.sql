CREATE TABLE "background_runs" (
	"job" text PRIMARY KEY NOT NULL,
	"started_at" timestamp(6) with time zone NOT NULL,
	"finished_at" timestamp(6) with time zone,
	"outcome" jsonb,
	"error" text
);
--> statement-breakpoint
ALTER TABLE "blobs" ADD COLUMN "corrupt_at" timestamp(6) with time zone;--> statement-breakpoint
CREATE INDEX "objects_deleted_idx" ON "objects" USING btree ("status","updated_at") WHERE "objects"."status" in ('DELETING', 'DELETED');
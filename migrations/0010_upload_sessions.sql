CREATE TABLE "upload_sessions" (
	"id" uuid PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"namespace" text NOT NULL,
	"key" text,
	"storage_class" "storage_class" NOT NULL,
	"content_type" text NOT NULL,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"overwrite" boolean NOT NULL,
	"expected_hash" text,
	"length" bigint,
	"offset" bigint DEFAULT 0 NOT NULL,
	"store_state" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"tail" "bytea",
	"completed" jsonb,
	"created_at" timestamp(6) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp(6) with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp(6) with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "upload_sessions_open_idx" ON "upload_sessions" USING btree ("tenant_id","namespace","created_at","id") WHERE "upload_sessions"."completed" is null;--> statement-breakpoint
CREATE INDEX "upload_sessions_expiry_idx" ON "upload_sessions" USING btree ("expires_at");
CREATE TYPE "public"."object_status" AS ENUM('WRITING', 'COMMITTED', 'DELETING', 'DELETED');--> statement-breakpoint
CREATE TYPE "public"."storage_class" AS ENUM('hot', 'cold');--> statement-breakpoint
CREATE TABLE "blobs" (
	"storage_class" "storage_class" NOT NULL,
	"content_hash" text NOT NULL,
	"size_bytes" bigint NOT NULL,
	"ref_count" integer DEFAULT 0 NOT NULL,
	"unreferenced_since" timestamp(6) with time zone,
	"created_at" timestamp(6) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "blobs_storage_class_content_hash_pk" PRIMARY KEY("storage_class","content_hash"),
	CONSTRAINT "blobs_ref_count_non_negative" CHECK ("blobs"."ref_count" >= 0)
);
--> statement-breakpoint
CREATE TABLE "objects" (
	"id" uuid PRIMARY KEY NOT NULL,
	"namespace" text NOT NULL,
	"tenant_id" text NOT NULL,
	"key" text,
	"status" "object_status" NOT NULL,
	"storage_class" "storage_class" NOT NULL,
	"content_hash" text,
	"size_bytes" bigint,
	"content_type" text NOT NULL,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp(6) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp(6) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "blobs_unreferenced_idx" ON "blobs" USING btree ("unreferenced_since") WHERE "blobs"."ref_count" = 0;--> statement-breakpoint
CREATE UNIQUE INDEX "objects_live_key_idx" ON "objects" USING btree ("tenant_id","namespace","key") WHERE "objects"."status" = 'COMMITTED' and "objects"."key" is not null;--> statement-breakpoint
CREATE INDEX "objects_listing_idx" ON "objects" USING btree ("tenant_id","namespace","created_at","id") WHERE "objects"."status" = 'COMMITTED';--> statement-breakpoint
CREATE INDEX "objects_writing_idx" ON "objects" USING btree ("updated_at") WHERE "objects"."status" = 'WRITING';--> statement-breakpoint
CREATE INDEX "objects_blob_idx" ON "objects" USING btree ("storage_class","content_hash");
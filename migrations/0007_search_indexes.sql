-- Keys are opaque: they compare bytewise, so a key prefix is a range of the live-key index.
ALTER TABLE "objects" ALTER COLUMN "key" SET DATA TYPE text COLLATE "C";--> statement-breakpoint
CREATE EXTENSION IF NOT EXISTS pg_trgm;--> statement-breakpoint
-- The words of an object for full-text search: its key's and its metadata's
-- string values', split at punctuation and white space (so "models/gpt-v1.bin"
-- holds models, gpt, v1 and bin), as the 'simple' configuration reads them:
-- lowercased, no stemming and no stop words.
-- Its cost is set high, as it is: otherwise a search by text matching nothing
-- is planned as a walk of the whole namespace computing it for every row, in
-- the hope of finding a page of matches early, instead of a probe of its index.
CREATE FUNCTION "object_words"("p_key" text, "p_metadata" jsonb) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE COST 10000 AS $$
	SELECT to_tsvector('simple', regexp_replace(
		coalesce(p_key, '') || ' ' || coalesce((SELECT string_agg(v #>> '{}', ' ') FROM jsonb_path_query(p_metadata, 'strict $.** ? (@.type() == "string")') v), ''),
		'[[:punct:][:space:]]+', ' ', 'g'))
$$;--> statement-breakpoint
-- A search text as a query: every one of its words, read as object_words reads them.
CREATE FUNCTION "object_query"("p_text" text) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT plainto_tsquery('simple', regexp_replace(p_text, '[[:punct:][:space:]]+', ' ', 'g'))
$$;--> statement-breakpoint
CREATE INDEX "objects_content_type_idx" ON "objects" USING btree ("tenant_id","namespace",lower("content_type"),"created_at","id") WHERE "objects"."status" = 'COMMITTED';--> statement-breakpoint
CREATE INDEX "objects_metadata_idx" ON "objects" USING gin ("metadata" jsonb_path_ops) WHERE "objects"."status" = 'COMMITTED';--> statement-breakpoint
CREATE INDEX "objects_key_trigram_idx" ON "objects" USING gin ("key" gin_trgm_ops) WHERE "objects"."status" = 'COMMITTED' and "objects"."key" is not null;--> statement-breakpoint
CREATE INDEX "objects_words_idx" ON "objects" USING gin (object_words("key", "metadata")) WHERE "objects"."status" = 'COMMITTED';
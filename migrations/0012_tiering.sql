ALTER TABLE "objects" ADD COLUMN "last_read_at" timestamp(6) with time zone;--> statement-breakpoint
CREATE INDEX "objects_idle_idx" ON "objects" USING btree ("tenant_id","namespace",coalesce("last_read_at", "created_at")) WHERE "objects"."status" = 'COMMITTED' and "objects"."storage_class" = 'hot';--> statement-breakpoint
-- Moves a committed object to another storage class under the same locks as a
-- commit: the object's row, then both blob rows in the one global order. The
-- object takes a reference to the target blob (created if missing, with the
-- source's inline bytes if it has them) and gives up the source's, in one
-- transaction, so readers see either class whole and the counts stay exact.
-- Skipped (moved false) when the object changed meanwhile: released, replaced,
-- already moved, or read since p_idle_before. keeps_own_bytes: the target row
-- holds its bytes inline, so no file is to be placed.
CREATE FUNCTION "move_object"(
	"p_id" uuid, "p_from" "storage_class", "p_to" "storage_class", "p_content_hash" text, "p_idle_before" timestamptz
) RETURNS TABLE ("moved" boolean, "keeps_own_bytes" boolean)
LANGUAGE plpgsql AS $$
DECLARE
	target objects%ROWTYPE;
	source_inline bytea;
	keeps boolean;
	created boolean := false;
	removed record;
	added record;
	remaining integer;
BEGIN
	SELECT * INTO target FROM objects o
	WHERE o.id = p_id AND o.status = 'COMMITTED' AND o.storage_class = p_from AND o.content_hash = p_content_hash
		AND coalesce(o.last_read_at, o.created_at) <= p_idle_before
	FOR UPDATE SKIP LOCKED;
	IF NOT FOUND THEN
		RETURN QUERY SELECT false, false;
		RETURN;
	END IF;

	-- One order for every locker of two blob rows ('cold:' before 'hot:'), as in commit_object.
	IF (p_to::text || ':' || p_content_hash) COLLATE "C" < (p_from::text || ':' || p_content_hash) COLLATE "C" THEN
		PERFORM 1 FROM blobs b WHERE b.storage_class = p_to AND b.content_hash = p_content_hash FOR UPDATE;
		SELECT b.inline_data INTO source_inline FROM blobs b WHERE b.storage_class = p_from AND b.content_hash = p_content_hash FOR UPDATE;
	ELSE
		SELECT b.inline_data INTO source_inline FROM blobs b WHERE b.storage_class = p_from AND b.content_hash = p_content_hash FOR UPDATE;
		PERFORM 1 FROM blobs b WHERE b.storage_class = p_to AND b.content_hash = p_content_hash FOR UPDATE;
	END IF;

	INSERT INTO blobs (storage_class, content_hash, size_bytes, ref_count, inline_data)
	VALUES (p_to, p_content_hash, target.size_bytes, 1, source_inline)
	ON CONFLICT DO NOTHING;
	IF FOUND THEN
		created := true;
		keeps := source_inline IS NOT NULL;
	ELSE
		SELECT (b.inline_data IS NOT NULL AND b.corrupt_at IS NULL) INTO keeps
		FROM blobs b WHERE b.storage_class = p_to AND b.content_hash = p_content_hash FOR UPDATE;
		-- A row without its bytes takes the source's inline bytes, or the file placed before COMMIT.
		UPDATE blobs SET ref_count = ref_count + 1, unreferenced_since = NULL,
			corrupt_at = CASE WHEN keeps THEN corrupt_at END,
			inline_data = CASE WHEN keeps THEN inline_data ELSE source_inline END,
			generation = CASE WHEN keeps THEN generation ELSE generation + 1 END
		WHERE storage_class = p_to AND content_hash = p_content_hash;
		keeps := keeps OR source_inline IS NOT NULL;
	END IF;

	UPDATE blobs SET ref_count = ref_count - 1,
		unreferenced_since = CASE WHEN ref_count = 1 THEN now() ELSE unreferenced_since END
	WHERE storage_class = p_from AND content_hash = p_content_hash
	RETURNING ref_count INTO remaining;
	SELECT * INTO removed FROM blob_bytes(p_id, target.tenant_id, target.namespace, p_from, p_content_hash, target.size_bytes, coalesce(remaining, 0) > 0);
	UPDATE objects SET storage_class = p_to WHERE id = p_id;
	SELECT * INTO added FROM blob_bytes(p_id, target.tenant_id, target.namespace, p_to, p_content_hash, target.size_bytes, NOT created);
	PERFORM add_usage(target.tenant_id, target.namespace, p_from, -1, -target.size_bytes, -removed.namespace_bytes, -removed.tenant_bytes);
	PERFORM add_usage(target.tenant_id, target.namespace, p_to, 1, target.size_bytes, added.namespace_bytes, added.tenant_bytes);
	RETURN QUERY SELECT true, keeps;
END
$$;

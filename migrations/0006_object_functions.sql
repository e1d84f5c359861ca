-- A commit runs as one statement: one round trip and one WAL flush, with every
-- lock taken inside the database (core/objects.ts explains the rules).

-- Makes a committed object invisible and drops its blob reference (a replace
-- and a delete both do), the object row and then the blob row locked: it stays
-- DELETING until garbage collection has settled its blob, then DELETED, then purged.
CREATE FUNCTION "release_object"("p_id" uuid, "p_storage_class" "storage_class", "p_content_hash" text) RETURNS void
LANGUAGE sql AS $$
	UPDATE objects SET status = 'DELETING', updated_at = now() WHERE id = p_id;
	UPDATE blobs SET ref_count = ref_count - 1,
		unreferenced_since = CASE WHEN ref_count = 1 THEN now() ELSE unreferenced_since END
	WHERE storage_class = p_storage_class AND content_hash = p_content_hash;
$$;
--> statement-breakpoint
-- Commits an upload's verified bytes: locks the key (when there is one) and its
-- live object, checks the key policy, locks the previous and the target blob
-- rows in one global order, releases the previous object, adds the reference
-- (the row takes the commit's bytes unless it keeps its own: inline and not
-- marked corrupt) and makes the object visible. A reserved upload (its file
-- streamed to a temp path) is updated from WRITING; a small one is inserted.
CREATE FUNCTION "commit_object"(
	"p_id" uuid, "p_namespace" text, "p_tenant_id" text, "p_key" text, "p_storage_class" "storage_class",
	"p_content_hash" text, "p_size_bytes" bigint, "p_content_type" text, "p_metadata" jsonb,
	"p_inline" bytea, "p_reserved" boolean, "p_policy" text, "p_etags" text[]
) RETURNS TABLE ("visible_at" text, "replaced" boolean, "keeps_own_bytes" boolean)
LANGUAGE plpgsql AS $$
DECLARE
	current_id uuid;
	current_class storage_class;
	current_hash text;
	target_order text COLLATE "C" := p_storage_class::text || ':' || p_content_hash;
	previous_order text COLLATE "C";
	previous_locked boolean := false;
	keeps boolean;
	referenced boolean := false;
	visible timestamptz;
BEGIN
	IF p_key IS NOT NULL THEN
		-- Serialises writers of one key, including those that create it ('/' occurs in no tenant or namespace).
		PERFORM pg_advisory_xact_lock(hashtextextended(p_tenant_id || '/' || p_namespace || '/' || p_key, 0));
		SELECT o.id, o.storage_class, o.content_hash INTO current_id, current_class, current_hash
		FROM objects o
		WHERE o.tenant_id = p_tenant_id AND o.namespace = p_namespace AND o.key = p_key AND o.status = 'COMMITTED'
		FOR UPDATE;
	END IF;

	IF p_policy = 'reject' AND current_id IS NOT NULL THEN
		RAISE EXCEPTION 'An object with this key already exists; send X-Overwrite: true to replace it' USING ERRCODE = 'JSKEY';
	ELSIF p_policy = 'create-only' AND current_id IS NOT NULL THEN
		RAISE EXCEPTION 'An object with this key already exists (If-None-Match: *)' USING ERRCODE = 'JSPRE';
	ELSIF p_policy = 'replace-if' AND (current_id IS NULL OR NOT (p_etags IS NULL OR ('"' || current_hash || '"') = ANY (p_etags))) THEN
		RAISE EXCEPTION 'The current object does not match If-Match' USING ERRCODE = 'JSPRE';
	END IF;

	-- Two blob rows are locked in one global order, so that commits never deadlock each other.
	IF current_id IS NOT NULL THEN
		previous_order := current_class::text || ':' || current_hash;
		IF previous_order < target_order THEN
			PERFORM 1 FROM blobs b WHERE b.storage_class = current_class AND b.content_hash = current_hash FOR UPDATE;
			previous_locked := true;
		END IF;
	END IF;

	-- Garbage collection deletes rows under this same lock, so the row can vanish
	-- between the insert attempt and the lock: then it is simply created again.
	LOOP
		INSERT INTO blobs (storage_class, content_hash, size_bytes, ref_count, inline_data)
		VALUES (p_storage_class, p_content_hash, p_size_bytes, 1, p_inline)
		ON CONFLICT DO NOTHING;
		IF FOUND THEN
			-- Created with its reference: it holds the small bytes, or awaits its file.
			keeps := p_inline IS NOT NULL;
			referenced := true;
			EXIT;
		END IF;
		SELECT (b.inline_data IS NOT NULL AND b.corrupt_at IS NULL) INTO keeps
		FROM blobs b WHERE b.storage_class = p_storage_class AND b.content_hash = p_content_hash
		FOR UPDATE;
		EXIT WHEN FOUND;
	END LOOP;

	IF current_id IS NOT NULL AND NOT previous_locked AND previous_order <> target_order THEN
		PERFORM 1 FROM blobs b WHERE b.storage_class = current_class AND b.content_hash = current_hash FOR UPDATE;
	END IF;

	IF current_id IS NOT NULL THEN
		PERFORM release_object(current_id, current_class, current_hash);
	END IF;

	IF NOT referenced THEN
		UPDATE blobs SET ref_count = ref_count + 1, unreferenced_since = NULL,
			corrupt_at = CASE WHEN keeps THEN corrupt_at END,
			inline_data = CASE WHEN keeps THEN inline_data ELSE p_inline END,
			generation = CASE WHEN keeps THEN generation ELSE generation + 1 END
		WHERE storage_class = p_storage_class AND content_hash = p_content_hash;
	END IF;

	-- Read after every lock wait: now() would put created_at before the waits, and a
	-- consumer polling created_after would miss the object.
	visible := clock_timestamp();
	IF p_reserved THEN
		UPDATE objects SET status = 'COMMITTED', content_hash = p_content_hash, size_bytes = p_size_bytes, created_at = visible, updated_at = visible
		WHERE id = p_id AND status = 'WRITING';
		-- The stuck-upload reaper may have given up on this upload while it streamed.
		IF NOT FOUND THEN
			RAISE EXCEPTION 'The upload took too long and was abandoned; retry it' USING ERRCODE = 'JSGON';
		END IF;
	ELSE
		INSERT INTO objects (id, namespace, tenant_id, key, status, storage_class, content_hash, size_bytes, content_type, metadata, created_at, updated_at)
		VALUES (p_id, p_namespace, p_tenant_id, p_key, 'COMMITTED', p_storage_class, p_content_hash, p_size_bytes, p_content_type, p_metadata, visible, visible);
	END IF;
	RETURN QUERY SELECT visible::text, current_id IS NOT NULL, keeps;
END
$$;

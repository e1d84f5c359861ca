CREATE TABLE "quota_holds" (
	"id" uuid PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"namespace" text NOT NULL,
	"bytes" bigint NOT NULL,
	"objects" integer NOT NULL,
	"created_at" timestamp(6) with time zone DEFAULT clock_timestamp() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "quota_holds_tenant_idx" ON "quota_holds" USING btree ("tenant_id","namespace");--> statement-breakpoint
CREATE INDEX "quota_holds_created_idx" ON "quota_holds" USING btree ("created_at");
--> statement-breakpoint
-- What a tenant's quotas count: the usage counters and the holds of commits in
-- flight (but `p_except`'s), read in one statement so that a commit turning its
-- hold into usage is counted once, as one or the other.
CREATE FUNCTION "quota_in_use"("p_tenant_id" text, "p_namespace" text, "p_except" uuid)
RETURNS TABLE ("namespace_bytes" bigint, "namespace_objects" bigint, "tenant_bytes" bigint, "tenant_objects" bigint)
LANGUAGE sql STABLE AS $$
	WITH used AS (
		SELECT u.namespace, u.logical_bytes AS bytes, u.objects FROM usage_counters u WHERE u.tenant_id = p_tenant_id
		UNION ALL
		SELECT h.namespace, h.bytes, h.objects FROM quota_holds h WHERE h.tenant_id = p_tenant_id AND h.id IS DISTINCT FROM p_except)
	SELECT coalesce(sum(bytes) FILTER (WHERE namespace = p_namespace), 0)::bigint,
		coalesce(sum(objects) FILTER (WHERE namespace = p_namespace), 0)::bigint,
		coalesce(sum(bytes), 0)::bigint, coalesce(sum(objects), 0)::bigint
	FROM used
$$;
--> statement-breakpoint
-- Holds room under the namespace's and tenant's quotas for the commit of object
-- p_id, of p_size_bytes to key p_key (an object it would replace counted as
-- freed), or raises JSQUO when there is none; false when no quota applies. Its
-- transaction is short and needs no WAL flush of its own (the commit that uses
-- the hold flushes it, WAL being written in order), so the tenant's lock is
-- held for a moment, never across a commit. So it must run in a transaction of
-- its own, which it checks: it would make any other's commit asynchronous too.
CREATE FUNCTION "hold_quota"("p_id" uuid, "p_tenant_id" text, "p_namespace" text, "p_key" text, "p_size_bytes" bigint)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
	versioned boolean;
	quota_bytes_ns bigint;
	quota_objects_ns bigint;
	quota_bytes_tenant bigint;
	quota_objects_tenant bigint;
	replaced_size bigint;
	added_bytes bigint;
	added_objects bigint;
	used record;
BEGIN
	IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
		RAISE EXCEPTION 'hold_quota runs in a transaction of its own';
	END IF;
	SELECT s.versioning, s.quota_bytes, s.quota_objects INTO versioned, quota_bytes_ns, quota_objects_ns
	FROM namespace_settings s WHERE s.tenant_id = p_tenant_id AND s.namespace = p_namespace;
	SELECT q.quota_bytes, q.quota_objects INTO quota_bytes_tenant, quota_objects_tenant
	FROM tenant_quotas q WHERE q.tenant_id = p_tenant_id;
	IF coalesce(quota_bytes_ns, quota_objects_ns, quota_bytes_tenant, quota_objects_tenant) IS NULL THEN
		RETURN false;
	END IF;
	PERFORM set_config('synchronous_commit', 'off', true);
	PERFORM pg_advisory_xact_lock(hashtextextended('quota/' || p_tenant_id, 0));
	-- A versioned namespace keeps the object it replaces: nothing is freed.
	IF p_key IS NOT NULL AND NOT coalesce(versioned, false) THEN
		SELECT o.size_bytes INTO replaced_size FROM objects o
		WHERE o.tenant_id = p_tenant_id AND o.namespace = p_namespace AND o.key = p_key AND o.status = 'COMMITTED'
			AND o.noncurrent_since IS NULL;
	END IF;
	added_bytes := p_size_bytes - coalesce(replaced_size, 0);
	added_objects := CASE WHEN replaced_size IS NULL THEN 1 ELSE 0 END;
	SELECT * INTO used FROM quota_in_use(p_tenant_id, p_namespace, p_id);
	IF used.namespace_bytes + added_bytes > quota_bytes_ns OR used.namespace_objects + added_objects > quota_objects_ns THEN
		RAISE EXCEPTION 'The namespace''s quota would be exceeded' USING ERRCODE = 'JSQUO';
	END IF;
	IF used.tenant_bytes + added_bytes > quota_bytes_tenant OR used.tenant_objects + added_objects > quota_objects_tenant THEN
		RAISE EXCEPTION 'The tenant''s quota would be exceeded' USING ERRCODE = 'JSQUO';
	END IF;
	-- What the commit may add: a replace that frees bytes holds none.
	INSERT INTO quota_holds (id, tenant_id, namespace, bytes, objects)
	VALUES (p_id, p_tenant_id, p_namespace, greatest(added_bytes, 0), added_objects)
	ON CONFLICT (id) DO UPDATE SET bytes = excluded.bytes, objects = excluded.objects, created_at = excluded.created_at;
	RETURN true;
END
$$;
--> statement-breakpoint
-- commit_object (0011) no longer takes the tenant's quota lock up front: a commit
-- its hold covers takes none; any other is checked under it, as the last lock.
CREATE OR REPLACE FUNCTION "commit_object"(
	"p_id" uuid, "p_namespace" text, "p_tenant_id" text, "p_key" text, "p_storage_class" "storage_class",
	"p_content_hash" text, "p_size_bytes" bigint, "p_content_type" text, "p_metadata" jsonb,
	"p_inline" bytea, "p_reserved" boolean, "p_policy" text, "p_etags" text[], "p_existing" boolean DEFAULT false,
	"p_expires_at" timestamptz DEFAULT NULL
) RETURNS TABLE ("visible_at" text, "replaced" boolean, "keeps_own_bytes" boolean, "expires_at" text)
LANGUAGE plpgsql AS $$
DECLARE
	current_id uuid;
	current_class storage_class;
	current_hash text;
	current_expires timestamptz;
	current_live boolean := false;
	versioned boolean := false;
	default_expiry bigint;
	quota_bytes_ns bigint;
	quota_objects_ns bigint;
	quota_bytes_tenant bigint;
	quota_objects_tenant bigint;
	target_order text COLLATE "C" := p_storage_class::text || ':' || p_content_hash;
	previous_order text COLLATE "C";
	previous_locked boolean := false;
	keeps boolean;
	usable boolean;
	referenced boolean := false;
	visible timestamptz;
	expiry timestamptz;
	released record;
	added record;
	used record;
	held record;
	added_bytes bigint;
	added_objects bigint;
BEGIN
	SELECT s.versioning, s.default_expires_in, s.quota_bytes, s.quota_objects
	INTO versioned, default_expiry, quota_bytes_ns, quota_objects_ns
	FROM namespace_settings s WHERE s.tenant_id = p_tenant_id AND s.namespace = p_namespace;
	versioned := coalesce(versioned, false);
	SELECT q.quota_bytes, q.quota_objects INTO quota_bytes_tenant, quota_objects_tenant
	FROM tenant_quotas q WHERE q.tenant_id = p_tenant_id;
	IF p_key IS NOT NULL THEN
		-- Serialises writers of one key, including those that create it ('/' occurs in no tenant or namespace).
		PERFORM pg_advisory_xact_lock(hashtextextended(p_tenant_id || '/' || p_namespace || '/' || p_key, 0));
		SELECT o.id, o.storage_class, o.content_hash, o.expires_at INTO current_id, current_class, current_hash, current_expires
		FROM objects o
		WHERE o.tenant_id = p_tenant_id AND o.namespace = p_namespace AND o.key = p_key AND o.status = 'COMMITTED'
			AND o.noncurrent_since IS NULL
		FOR UPDATE;
		-- An expired object is gone for every reader: it holds the key for no one.
		current_live := current_id IS NOT NULL AND (current_expires IS NULL OR current_expires > clock_timestamp());
	END IF;

	IF p_policy = 'reject' AND current_live THEN
		RAISE EXCEPTION 'An object with this key already exists; send X-Overwrite: true to replace it' USING ERRCODE = 'JSKEY';
	ELSIF p_policy = 'create-only' AND current_live THEN
		RAISE EXCEPTION 'An object with this key already exists (If-None-Match: *)' USING ERRCODE = 'JSPRE';
	ELSIF p_policy = 'replace-if' AND (NOT current_live OR NOT (p_etags IS NULL OR ('"' || current_hash || '"') = ANY (p_etags))) THEN
		RAISE EXCEPTION 'The current object does not match If-Match' USING ERRCODE = 'JSPRE';
	END IF;

	-- A version kept stays as it is, its blob untouched: only a released object's blob is locked.
	IF current_id IS NOT NULL AND current_live AND versioned THEN
		UPDATE objects SET noncurrent_since = clock_timestamp() WHERE id = current_id;
		current_id := NULL;
	END IF;

	-- Two blob rows are locked in one global order, so that commits never deadlock each other.
	IF current_id IS NOT NULL THEN
		previous_order := current_class::text || ':' || current_hash;
		IF previous_order < target_order THEN
			PERFORM 1 FROM blobs b WHERE b.storage_class = current_class AND b.content_hash = current_hash FOR UPDATE;
			previous_locked := true;
		END IF;
	END IF;

	IF p_existing THEN
		-- Garbage collection deletes a row, and takes its bytes, under this lock: a row
		-- still here has its bytes. One gone, or marked corrupt, is no source.
		SELECT b.corrupt_at IS NULL INTO usable
		FROM blobs b WHERE b.storage_class = p_storage_class AND b.content_hash = p_content_hash
		FOR UPDATE;
		IF NOT coalesce(usable, false) THEN
			RAISE EXCEPTION 'No such source object' USING ERRCODE = 'JSNOS';
		END IF;
		keeps := true;
	ELSE
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
	END IF;

	IF current_id IS NOT NULL AND NOT previous_locked AND previous_order <> target_order THEN
		PERFORM 1 FROM blobs b WHERE b.storage_class = current_class AND b.content_hash = current_hash FOR UPDATE;
	END IF;

	IF current_id IS NOT NULL THEN
		SELECT * INTO released FROM release_object(current_id, current_class, current_hash, false);
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
	expiry := coalesce(p_expires_at, visible + make_interval(secs => default_expiry));
	IF p_reserved THEN
		UPDATE objects SET status = 'COMMITTED', content_hash = p_content_hash, size_bytes = p_size_bytes, created_at = visible, updated_at = visible, expires_at = expiry
		WHERE id = p_id AND status = 'WRITING';
		-- The stuck-upload reaper may have given up on this upload while it streamed.
		IF NOT FOUND THEN
			RAISE EXCEPTION 'The upload took too long and was abandoned; retry it' USING ERRCODE = 'JSGON';
		END IF;
	ELSE
		INSERT INTO objects (id, namespace, tenant_id, key, status, storage_class, content_hash, size_bytes, content_type, metadata, created_at, updated_at, expires_at)
		VALUES (p_id, p_namespace, p_tenant_id, p_key, 'COMMITTED', p_storage_class, p_content_hash, p_size_bytes, p_content_type, p_metadata, visible, visible, expiry);
	END IF;
	SELECT * INTO added FROM blob_bytes(p_id, p_tenant_id, p_namespace, p_storage_class, p_content_hash, p_size_bytes, NOT referenced);
	-- A replace within one class is one change of the namespace's counters.
	IF current_id IS NOT NULL AND current_class <> p_storage_class THEN
		PERFORM add_usage(p_tenant_id, p_namespace, current_class, -1, -released.size_bytes, -released.namespace_bytes, -released.tenant_bytes);
		PERFORM add_usage(p_tenant_id, p_namespace, p_storage_class, 1, p_size_bytes, added.namespace_bytes, added.tenant_bytes);
	ELSIF current_id IS NOT NULL THEN
		PERFORM add_usage(p_tenant_id, p_namespace, p_storage_class, 0, p_size_bytes - released.size_bytes,
			added.namespace_bytes - released.namespace_bytes, added.tenant_bytes - released.tenant_bytes);
	ELSE
		PERFORM add_usage(p_tenant_id, p_namespace, p_storage_class, 1, p_size_bytes, added.namespace_bytes, added.tenant_bytes);
	END IF;

	-- The commit's own hold covers it, or it is checked under the tenant's lock, taken
	-- after every other lock so that it closes no cycle: counted with this commit,
	-- every other commit's change committed or held.
	IF coalesce(quota_bytes_ns, quota_objects_ns, quota_bytes_tenant, quota_objects_tenant) IS NOT NULL THEN
		DELETE FROM quota_holds h WHERE h.id = p_id RETURNING h.bytes, h.objects INTO held;
		added_bytes := p_size_bytes;
		added_objects := 1;
		IF current_id IS NOT NULL THEN
			added_bytes := p_size_bytes - released.size_bytes;
			added_objects := 0;
		END IF;
		IF held.bytes IS NULL OR added_bytes > held.bytes OR added_objects > held.objects THEN
			PERFORM pg_advisory_xact_lock(hashtextextended('quota/' || p_tenant_id, 0));
			SELECT * INTO used FROM quota_in_use(p_tenant_id, p_namespace, p_id);
			IF used.namespace_bytes > quota_bytes_ns OR used.namespace_objects > quota_objects_ns THEN
				RAISE EXCEPTION 'The namespace''s quota would be exceeded' USING ERRCODE = 'JSQUO';
			END IF;
			IF used.tenant_bytes > quota_bytes_tenant OR used.tenant_objects > quota_objects_tenant THEN
				RAISE EXCEPTION 'The tenant''s quota would be exceeded' USING ERRCODE = 'JSQUO';
			END IF;
		END IF;
	END IF;
	RETURN QUERY SELECT visible::text, current_live, keeps, expiry::text;
END
$$;

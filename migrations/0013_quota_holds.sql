-- Unlogged: a hold lives for one commit, and writing it costs no WAL. A crash of
-- the database empties the table, and a commit whose hold is gone is checked
-- under the tenant's lock instead, exactly.
CREATE UNLOGGED TABLE "quota_holds" (
	"id" uuid PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"namespace" text NOT NULL,
	"bytes" bigint NOT NULL,
	"objects" integer NOT NULL,
	"created_at" timestamp(6) with time zone DEFAULT clock_timestamp() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "quota_holds_tenant_idx" ON "quota_holds" USING btree ("tenant_id","namespace");
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
-- Holds room under the namespaces' and the tenant's quotas for the commits of
-- objects p_ids (of p_sizes bytes, to p_keys in p_namespaces; an object a
-- commit would replace counted as freed), in order: each gets a hold, or is
-- refused ('namespace' or 'tenant') when there is no room, or gets neither
-- (held false, refused null) when no quota applies. One call serves the
-- commits a process has waiting for the tenant, so the tenant's lock is taken
-- once for all of them. It writes an unlogged table only, so its commit waits
-- for no WAL flush and the lock is held for a moment; called in a transaction
-- of its own, never across a commit.
CREATE FUNCTION "hold_quotas"("p_tenant_id" text, "p_ids" uuid[], "p_namespaces" text[], "p_keys" text[], "p_sizes" bigint[])
RETURNS TABLE ("hold_id" uuid, "held" boolean, "refused" text)
-- Its statements take arrays, which a custom plan would plan anew on every call.
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
	quota_bytes_tenant bigint;
	quota_objects_tenant bigint;
	names text[];
	versioned boolean[];
	quota_bytes_ns bigint[];
	quota_objects_ns bigint[];
	used_bytes_ns bigint[];
	used_objects_ns bigint[];
	used_bytes_tenant bigint;
	used_objects_tenant bigint;
	replaced bigint[];
	granted uuid[] := '{}';
	granted_namespaces text[] := '{}';
	granted_bytes bigint[] := '{}';
	granted_objects integer[] := '{}';
	i integer;
	n integer;
	added_bytes bigint;
	added_objects integer;
BEGIN
	SELECT q.quota_bytes, q.quota_objects INTO quota_bytes_tenant, quota_objects_tenant
	FROM tenant_quotas q WHERE q.tenant_id = p_tenant_id;
	SELECT array_agg(d.namespace), array_agg(coalesce(s.versioning, false)), array_agg(s.quota_bytes), array_agg(s.quota_objects)
	INTO names, versioned, quota_bytes_ns, quota_objects_ns
	FROM (SELECT DISTINCT unnest(p_namespaces) AS namespace) d
	LEFT JOIN namespace_settings s ON s.tenant_id = p_tenant_id AND s.namespace = d.namespace;
	IF coalesce(quota_bytes_tenant, quota_objects_tenant) IS NULL
		AND NOT EXISTS (SELECT 1 FROM unnest(quota_bytes_ns, quota_objects_ns) AS q(b, o) WHERE b IS NOT NULL OR o IS NOT NULL) THEN
		RETURN QUERY SELECT unnest(p_ids), false, NULL::text;
		RETURN;
	END IF;
	-- Read before the lock: a commit checks that its hold still covers what it replaces.
	SELECT array_agg(r.size_bytes ORDER BY k.ord) INTO replaced
	FROM unnest(p_namespaces, p_keys) WITH ORDINALITY AS k(namespace, key, ord)
	LEFT JOIN LATERAL (
		SELECT o.size_bytes FROM objects o
		WHERE o.tenant_id = p_tenant_id AND o.namespace = k.namespace AND o.key = k.key AND o.status = 'COMMITTED' AND o.noncurrent_since IS NULL
	) r ON true;

	PERFORM pg_advisory_xact_lock(hashtextextended('quota/' || p_tenant_id, 0));
	SELECT array_agg(u.namespace_bytes ORDER BY d.ord), array_agg(u.namespace_objects ORDER BY d.ord), min(u.tenant_bytes), min(u.tenant_objects)
	INTO used_bytes_ns, used_objects_ns, used_bytes_tenant, used_objects_tenant
	FROM unnest(names) WITH ORDINALITY AS d(namespace, ord), LATERAL quota_in_use(p_tenant_id, d.namespace, NULL) u;

	FOR i IN 1 .. cardinality(p_ids) LOOP
		n := array_position(names, p_namespaces[i]);
		hold_id := p_ids[i];
		refused := NULL;
		held := false;
		-- Another namespace of the batch has a quota, this one and its tenant none.
		IF coalesce(quota_bytes_ns[n], quota_objects_ns[n], quota_bytes_tenant, quota_objects_tenant) IS NULL THEN
			RETURN NEXT;
			CONTINUE;
		END IF;
		-- A versioned namespace keeps the object it replaces: nothing is freed.
		IF versioned[n] OR replaced[i] IS NULL THEN
			added_bytes := p_sizes[i];
			added_objects := 1;
		ELSE
			added_bytes := p_sizes[i] - replaced[i];
			added_objects := 0;
		END IF;
		IF used_bytes_ns[n] + added_bytes > quota_bytes_ns[n] OR used_objects_ns[n] + added_objects > quota_objects_ns[n] THEN
			refused := 'namespace';
		ELSIF used_bytes_tenant + added_bytes > quota_bytes_tenant OR used_objects_tenant + added_objects > quota_objects_tenant THEN
			refused := 'tenant';
		ELSE
			-- What the commit may add, counted for the ones after it: a replace that frees bytes holds none.
			added_bytes := greatest(added_bytes, 0);
			used_bytes_ns[n] := used_bytes_ns[n] + added_bytes;
			used_objects_ns[n] := used_objects_ns[n] + added_objects;
			used_bytes_tenant := used_bytes_tenant + added_bytes;
			used_objects_tenant := used_objects_tenant + added_objects;
			granted := granted || p_ids[i];
			granted_namespaces := granted_namespaces || p_namespaces[i];
			granted_bytes := granted_bytes || added_bytes;
			granted_objects := granted_objects || added_objects;
			held := true;
		END IF;
		RETURN NEXT;
	END LOOP;
	INSERT INTO quota_holds (id, tenant_id, namespace, bytes, objects)
	SELECT g.id, p_tenant_id, g.namespace, g.bytes, g.objects FROM unnest(granted, granted_namespaces, granted_bytes, granted_objects) AS g(id, namespace, bytes, objects)
	ON CONFLICT (id) DO UPDATE SET bytes = excluded.bytes, objects = excluded.objects, created_at = excluded.created_at;
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

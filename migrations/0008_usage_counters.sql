CREATE TABLE "usage_counters" (
	"tenant_id" text NOT NULL,
	"namespace" text NOT NULL,
	"storage_class" "storage_class" NOT NULL,
	"slot" integer NOT NULL,
	"objects" bigint DEFAULT 0 NOT NULL,
	"logical_bytes" bigint DEFAULT 0 NOT NULL,
	"physical_bytes" bigint DEFAULT 0 NOT NULL,
	"tenant_physical_bytes" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "usage_counters_tenant_id_namespace_storage_class_slot_pk" PRIMARY KEY("tenant_id","namespace","storage_class","slot")
);
--> statement-breakpoint
DROP INDEX "objects_blob_idx";--> statement-breakpoint
CREATE INDEX "objects_blob_idx" ON "objects" USING btree ("storage_class","content_hash","tenant_id","namespace");--> statement-breakpoint
-- The usage of every tenant computed from its committed objects: what the
-- counters must add up to. A blob a tenant holds in several namespaces is
-- charged to the tenant through one of them only.
CREATE FUNCTION "exact_usage"() RETURNS TABLE (
	"tenant_id" text, "namespace" text, "storage_class" storage_class,
	"objects" bigint, "logical_bytes" bigint, "physical_bytes" bigint, "tenant_physical_bytes" bigint
)
LANGUAGE sql STABLE AS $$
	SELECT tenant_id, namespace, storage_class, sum(objects)::bigint, sum(logical)::bigint, sum(size)::bigint,
		coalesce(sum(size) FILTER (WHERE first_reference), 0)::bigint
	FROM (
		SELECT o.tenant_id, o.namespace, o.storage_class, count(*) AS objects, sum(o.size_bytes) AS logical,
			-- Equal hashes mean equal bytes, so every reference has the blob's size.
			max(o.size_bytes) AS size,
			row_number() OVER (PARTITION BY o.tenant_id, o.storage_class, o.content_hash) = 1 AS first_reference
		FROM objects o WHERE o.status = 'COMMITTED'
		GROUP BY o.tenant_id, o.namespace, o.storage_class, o.content_hash
	) per_blob
	GROUP BY tenant_id, namespace, storage_class
$$;
--> statement-breakpoint
-- Sets the counters to exact_usage(): after a migration, a bulk import, or a
-- repair. Commits wait for it (the table lock), so none is counted twice or lost.
CREATE FUNCTION "recount_usage"() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	LOCK TABLE usage_counters IN EXCLUSIVE MODE;
	DELETE FROM usage_counters;
	INSERT INTO usage_counters (tenant_id, namespace, storage_class, slot, objects, logical_bytes, physical_bytes, tenant_physical_bytes)
	SELECT u.tenant_id, u.namespace, u.storage_class, 0, u.objects, u.logical_bytes, u.physical_bytes, u.tenant_physical_bytes FROM exact_usage() u;
END
$$;
--> statement-breakpoint
-- The bytes an object adds to its namespace's and its tenant's physical bytes
-- (or takes from them when it goes): its size, unless another committed object
-- of the namespace or the tenant holds its blob. The caller holds the blob row's
-- lock, under which every object of the blob is committed and released, so the
-- answer is exact. A blob with no other reference (shared false) needs no look.
CREATE FUNCTION "blob_bytes"(
	"p_id" uuid, "p_tenant_id" text, "p_namespace" text, "p_storage_class" storage_class,
	"p_content_hash" text, "p_size_bytes" bigint, "p_shared" boolean,
	OUT "namespace_bytes" bigint, OUT "tenant_bytes" bigint
)
LANGUAGE plpgsql AS $$
DECLARE
	in_namespace boolean := false;
	in_tenant boolean := false;
BEGIN
	IF p_shared THEN
		in_namespace := EXISTS (SELECT 1 FROM objects o
			WHERE o.storage_class = p_storage_class AND o.content_hash = p_content_hash AND o.tenant_id = p_tenant_id
				AND o.namespace = p_namespace AND o.status = 'COMMITTED' AND o.id <> p_id);
		in_tenant := in_namespace OR EXISTS (SELECT 1 FROM objects o
			WHERE o.storage_class = p_storage_class AND o.content_hash = p_content_hash AND o.tenant_id = p_tenant_id
				AND o.status = 'COMMITTED' AND o.id <> p_id);
	END IF;
	namespace_bytes := CASE WHEN in_namespace THEN 0 ELSE coalesce(p_size_bytes, 0) END;
	tenant_bytes := CASE WHEN in_tenant THEN 0 ELSE coalesce(p_size_bytes, 0) END;
END
$$;
--> statement-breakpoint
-- Adds to the counters of a namespace and class, in this connection's row: an
-- update of a row that exists after the first write, an insert only before.
CREATE FUNCTION "add_usage"(
	"p_tenant_id" text, "p_namespace" text, "p_storage_class" storage_class,
	"p_objects" bigint, "p_logical_bytes" bigint, "p_physical_bytes" bigint, "p_tenant_physical_bytes" bigint
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	UPDATE usage_counters SET objects = objects + p_objects, logical_bytes = logical_bytes + p_logical_bytes,
		physical_bytes = physical_bytes + p_physical_bytes, tenant_physical_bytes = tenant_physical_bytes + p_tenant_physical_bytes
	WHERE tenant_id = p_tenant_id AND namespace = p_namespace AND storage_class = p_storage_class AND slot = pg_backend_pid();
	IF NOT FOUND THEN
		INSERT INTO usage_counters AS u (tenant_id, namespace, storage_class, slot, objects, logical_bytes, physical_bytes, tenant_physical_bytes)
		VALUES (p_tenant_id, p_namespace, p_storage_class, pg_backend_pid(), p_objects, p_logical_bytes, p_physical_bytes, p_tenant_physical_bytes)
		-- Folding may have just removed the row it updated.
		ON CONFLICT (tenant_id, namespace, storage_class, slot) DO UPDATE SET
			objects = u.objects + excluded.objects,
			logical_bytes = u.logical_bytes + excluded.logical_bytes,
			physical_bytes = u.physical_bytes + excluded.physical_bytes,
			tenant_physical_bytes = u.tenant_physical_bytes + excluded.tenant_physical_bytes;
	END IF;
END
$$;
--> statement-breakpoint
-- Folds the rows of closed connections into slot 0, so a tenant has a few rows
-- however many connections have come and gone. Rows being written are skipped
-- (a new connection may have the pid of an old one): no commit ever waits.
-- Folded rows that have come to zero (a namespace emptied) are dropped.
CREATE FUNCTION "fold_usage_counters"() RETURNS integer
LANGUAGE sql AS $$
	DELETE FROM usage_counters
	WHERE slot = 0 AND objects = 0 AND logical_bytes = 0 AND physical_bytes = 0 AND tenant_physical_bytes = 0;
	WITH closed AS (
		SELECT u.tenant_id, u.namespace, u.storage_class, u.slot FROM usage_counters u
		WHERE u.slot <> 0 AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = u.slot)
		FOR UPDATE SKIP LOCKED
	), moved AS (
		DELETE FROM usage_counters u USING closed c
		WHERE (u.tenant_id, u.namespace, u.storage_class, u.slot) = (c.tenant_id, c.namespace, c.storage_class, c.slot)
		RETURNING u.*
	), folded AS (
		INSERT INTO usage_counters AS u (tenant_id, namespace, storage_class, slot, objects, logical_bytes, physical_bytes, tenant_physical_bytes)
		SELECT m.tenant_id, m.namespace, m.storage_class, 0, sum(m.objects), sum(m.logical_bytes), sum(m.physical_bytes), sum(m.tenant_physical_bytes)
		FROM moved m GROUP BY m.tenant_id, m.namespace, m.storage_class
		-- One order for every folder, so two replicas folding at once never deadlock.
		ORDER BY m.tenant_id COLLATE "C", m.namespace COLLATE "C", m.storage_class
		ON CONFLICT (tenant_id, namespace, storage_class, slot) DO UPDATE SET
			objects = u.objects + excluded.objects,
			logical_bytes = u.logical_bytes + excluded.logical_bytes,
			physical_bytes = u.physical_bytes + excluded.physical_bytes,
			tenant_physical_bytes = u.tenant_physical_bytes + excluded.tenant_physical_bytes
	)
	SELECT count(*)::integer FROM moved
$$;
--> statement-breakpoint
-- release_object (0006) now also takes the object from its tenant's usage:
-- itself (p_count), or by answering what it takes, for a replacing commit to
-- count the replace in one change.
DROP FUNCTION "release_object"(uuid, "storage_class", text);
--> statement-breakpoint
CREATE FUNCTION "release_object"(
	"p_id" uuid, "p_storage_class" "storage_class", "p_content_hash" text, "p_count" boolean DEFAULT true,
	OUT "size_bytes" bigint, OUT "namespace_bytes" bigint, OUT "tenant_bytes" bigint
)
LANGUAGE plpgsql AS $$
DECLARE
	released objects%ROWTYPE;
	remaining integer;
BEGIN
	UPDATE objects SET status = 'DELETING', updated_at = now() WHERE id = p_id RETURNING * INTO released;
	UPDATE blobs SET ref_count = ref_count - 1,
		unreferenced_since = CASE WHEN ref_count = 1 THEN now() ELSE unreferenced_since END
	WHERE storage_class = p_storage_class AND content_hash = p_content_hash
	RETURNING ref_count INTO remaining;
	size_bytes := coalesce(released.size_bytes, 0);
	SELECT b.namespace_bytes, b.tenant_bytes INTO namespace_bytes, tenant_bytes
	FROM blob_bytes(p_id, released.tenant_id, released.namespace, p_storage_class, p_content_hash, size_bytes, coalesce(remaining, 0) > 0) b;
	IF p_count THEN
		PERFORM add_usage(released.tenant_id, released.namespace, p_storage_class, -1, -size_bytes, -namespace_bytes, -tenant_bytes);
	END IF;
END
$$;
--> statement-breakpoint
-- commit_object (0006) now also adds the object to its tenant's usage.
CREATE OR REPLACE FUNCTION "commit_object"(
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
	released record;
	added record;
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
	RETURN QUERY SELECT visible::text, current_id IS NOT NULL, keeps;
END
$$;
--> statement-breakpoint
SELECT recount_usage();

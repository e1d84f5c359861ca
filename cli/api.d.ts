// Generated from the service's /openapi.json by `bun run cli:types`; do not edit.
export interface paths {
    "/metrics": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Prometheus metrics */
        get: operations["getMetrics"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/health": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Liveness */
        get: operations["getHealth"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/health/ready": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Readiness */
        get: operations["getHealthReady"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/ready": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Readiness (alias) */
        get: operations["getReady"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/objects": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List objects in a namespace (keyset pagination) */
        get: operations["getV1Objects"];
        put?: never;
        /** Upload an object (raw body, streamed) */
        post: operations["postV1Objects"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/uploads": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List a namespace's open upload sessions, newest first */
        get: operations["getV1Uploads"];
        put?: never;
        /** Start a resumable upload session */
        post: operations["postV1Uploads"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/uploads/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** An upload session */
        get: operations["getV1UploadsById"];
        put?: never;
        post?: never;
        /** Cancel an upload session and remove its bytes */
        delete: operations["deleteV1UploadsById"];
        options?: never;
        /** An upload session's offset */
        head: operations["headV1UploadsById"];
        /** Append bytes at the session offset (raw body, streamed) */
        patch: operations["patchV1UploadsById"];
        trace?: never;
    };
    "/v1/uploads/{id}/complete": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Complete a session: verify, then commit it as an object */
        post: operations["postV1UploadsByIdComplete"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/objects/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Download an object by id */
        get: operations["getV1ObjectsById"];
        put?: never;
        post?: never;
        /** Delete an object by id */
        delete: operations["deleteV1ObjectsById"];
        options?: never;
        /** Headers of an object by id */
        head: operations["headV1ObjectsById"];
        patch?: never;
        trace?: never;
    };
    "/v1/objects/versions": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** A key's versions, newest first (paged like a list) */
        get: operations["getV1ObjectsVersions"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/namespaces/{namespace}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** A namespace's lifecycle settings */
        get: operations["getV1NamespacesByNamespace"];
        /** Change a namespace's lifecycle settings (absent fields keep their value) */
        put: operations["putV1NamespacesByNamespace"];
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/namespaces": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The tenant's namespaces (with settings or objects), their settings and usage */
        get: operations["getV1Namespaces"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/admin/tenants/{tenant_id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** A tenant's quotas */
        get: operations["getV1AdminTenantsByTenant_id"];
        /** Set a tenant's quotas */
        put: operations["putV1AdminTenantsByTenant_id"];
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/objects/search": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Search objects by key, type, class, size, time, metadata and words (full text) */
        post: operations["postV1ObjectsSearch"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/usage": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The tenant's object count and logical and physical (deduplicated) bytes, per namespace and storage class */
        get: operations["getV1Usage"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/api-keys": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** List API keys of the tenant */
        get: operations["getV1Api-keys"];
        put?: never;
        /** Create an API key (the secret is shown only in this response) */
        post: operations["postV1Api-keys"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/api-keys/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Read an API key (never its secret) */
        get: operations["getV1Api-keysById"];
        put?: never;
        post?: never;
        /** Revoke an API key */
        delete: operations["deleteV1Api-keysById"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/presign": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * Presign a download (GET, also HEAD) of an object or key, or an upload (PUT) to a key
         * @description The url is a path with query on this service that does that one operation without a credential until expires_at, acting with the signer's rights in that tenant and namespace. A changed path, method or parameter, a forged signature or an expired URL → 403; a revoked or expired signing key → 401.
         */
        post: operations["postV1Presign"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/admin/audit": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The audit trail (key changes, deletes, admin actions) */
        get: operations["getV1AdminAudit"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/admin/gc": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Run one garbage collection pass now */
        post: operations["postV1AdminGc"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/admin/scrub": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Re-hash every stored blob now */
        post: operations["postV1AdminScrub"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/admin/lifecycle": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** Run one lifecycle pass now (expiry, version retention, tiering) */
        post: operations["postV1AdminLifecycle"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/admin/status": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Background jobs, queues and disks */
        get: operations["getV1AdminStatus"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/v1/objects/by-key/{namespace}/{tenant_id}/{key}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** Download an object by key */
        get: operations["getV1ObjectsByKey"];
        /** Create or replace the object at a key (raw body, streamed) */
        put: operations["putV1ObjectsByKey"];
        post?: never;
        /** Delete an object by key */
        delete: operations["deleteV1ObjectsByKey"];
        options?: never;
        /** Headers of an object by key */
        head: operations["headV1ObjectsByKey"];
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        Error: {
            /** @description Human message */
            error: string;
            /** @description Machine code, e.g. not_found */
            code: string;
            request_id: string;
        };
    };
    responses: never;
    parameters: never;
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    getMetrics: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: never;
    };
    getHealth: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: never;
    };
    getHealthReady: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Unavailable (unavailable) */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    getReady: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Unavailable (unavailable) */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    getV1Objects: {
        parameters: {
            query?: {
                namespace?: string;
                tenant_id?: string;
                limit?: string;
                cursor?: string;
                prefix?: string;
                storage_class?: string;
                created_after?: string;
                created_before?: string;
                order?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        objects: {
                            /** Format: uuid */
                            id: string;
                            namespace: string;
                            tenant_id: string;
                            key: ((string | null) | null) | null;
                            /** @constant */
                            status: "COMMITTED";
                            /** @enum {string} */
                            storage_class: "hot" | "cold";
                            content_hash: string;
                            size_bytes: string | number;
                            content_type: string;
                            metadata: {
                                [key: string]: unknown;
                            };
                            created_at: string;
                            updated_at: string;
                            expires_at: ((string | null) | null) | null;
                        }[];
                        next_cursor: ((string | null) | null) | null;
                    };
                };
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    postV1Objects: {
        parameters: {
            query?: {
                /** @description Namespace (or X-Namespace) */
                namespace?: string;
                /** @description Tenant (or X-Tenant); an admin must name one */
                tenant_id?: string;
                /** @description Optional key, unique in namespace and tenant (or X-Key, percent-encoded) */
                key?: string;
                /** @description true replaces an object holding the key (or X-Overwrite) */
                overwrite?: string;
                /** @description hot (default) or cold (or X-Storage-Class) */
                storage_class?: string;
            };
            header?: {
                /** @description Namespace */
                "X-Namespace"?: string;
                /** @description Key, percent-encoded */
                "X-Key"?: string;
                /** @description true or false */
                "X-Overwrite"?: string;
                /** @description Tenant */
                "X-Tenant"?: string;
                /** @description hot or cold */
                "X-Storage-Class"?: string;
                /** @description A JSON object (≤ 8 KiB) stored as metadata */
                "X-Metadata"?: string;
                /** @description Expected SHA-256 of the body, hex */
                "X-Content-SHA256"?: string;
                /** @description Expected digest as sha-256=:<base64>: */
                "Content-Digest"?: string;
                /** @description RFC 3339 instant from which the object is gone (404, left out of lists), then deleted by the lifecycle pass */
                "X-Expires-At"?: string;
                /** @description Seconds from now until the object expires (instead of X-Expires-At) */
                "X-Expires-In"?: string;
                /** @description Server-side copy, with no body: an object id, or sha256:<hex> of content the tenant holds in the target class. Needs objects:read on the source; absent or unreachable → 404. Content-Type and X-Metadata default to the source's */
                "X-Copy-Source"?: string;
            };
            path?: never;
            cookie?: never;
        };
        /** @description The raw object bytes, streamed; Content-Type is stored with the object. None with X-Copy-Source */
        requestBody?: {
            content: {
                "application/octet-stream": string;
                "*/*": string;
            };
        };
        responses: {
            /** @description The stored object */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** Format: uuid */
                        id: string;
                        namespace: string;
                        tenant_id: string;
                        key: (string | null) | null;
                        /** @constant */
                        status: "COMMITTED";
                        storage_class: "hot" | "cold";
                        content_hash: string;
                        size_bytes: string | number;
                        content_type: string;
                        metadata: {
                            [key: string]: unknown;
                        };
                        created_at: string;
                        updated_at: string;
                        expires_at: (string | null) | null;
                    };
                };
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such object or route (not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The key is already held (key_exists) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too large (payload_too_large, quota_exceeded) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Unsupported Content-Type (unsupported_media_type) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Unavailable (unavailable) */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Out of storage (insufficient_storage) */
            507: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    getV1Uploads: {
        parameters: {
            query: {
                namespace: string;
                tenant_id?: string;
                /** @description Items per page, 1–1000 (100) */
                limit?: number;
                /** @description next_cursor of the page before */
                cursor?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The stored object */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        uploads: {
                            /** Format: uuid */
                            id: string;
                            namespace: string;
                            tenant_id: string;
                            key: (string | null) | null;
                            storage_class: "hot" | "cold";
                            offset: string | number;
                            length: ((string | number) | null) | null;
                            expires_at: string;
                            created_at: string;
                        }[];
                        next_cursor: (string | null) | null;
                    };
                };
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    postV1Uploads: {
        parameters: {
            query?: {
                /** @description Namespace (or X-Namespace) */
                namespace?: string;
                /** @description Tenant (or X-Tenant) */
                tenant_id?: string;
                /** @description Optional key of the object (or X-Key, percent-encoded) */
                key?: string;
                /** @description hot (default) or cold (or X-Storage-Class) */
                storage_class?: string;
                /** @description true replaces an object holding the key at completion (or X-Overwrite) */
                overwrite?: string;
            };
            header?: {
                /** @description The object's Content-Type */
                "X-Upload-Content-Type"?: string;
                /** @description The object's length, when known */
                "X-Upload-Content-Length"?: number;
                /** @description A JSON object (≤ 8 KiB) stored as metadata */
                "X-Metadata"?: string;
                /** @description The whole object's expected SHA-256, hex */
                "X-Content-SHA256"?: string;
                /** @description RFC 3339 instant from which the object is gone (404, left out of lists), then deleted by the lifecycle pass */
                "X-Expires-At"?: string;
                /** @description Seconds from now until the object expires (instead of X-Expires-At) */
                "X-Expires-In"?: string;
            };
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The stored object */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** Format: uuid */
                        id: string;
                        namespace: string;
                        tenant_id: string;
                        key: (string | null) | null;
                        storage_class: "hot" | "cold";
                        offset: string | number;
                        length: ((string | number) | null) | null;
                        expires_at: string;
                        created_at: string;
                    };
                };
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The key is already held (key_exists) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too large (payload_too_large, quota_exceeded) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    getV1UploadsById: {
        parameters: {
            query?: {
                /** @description Tenant (or X-Tenant); an admin naming none reaches the object in whatever tenant it is */
                tenant_id?: string;
            };
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The stored object */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** Format: uuid */
                        id: string;
                        namespace: string;
                        tenant_id: string;
                        key: (string | null) | null;
                        storage_class: "hot" | "cold";
                        offset: string | number;
                        length: ((string | number) | null) | null;
                        expires_at: string;
                        created_at: string;
                    };
                };
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such object or route (not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    deleteV1UploadsById: {
        parameters: {
            query?: {
                /** @description Tenant (or X-Tenant); an admin naming none reaches the object in whatever tenant it is */
                tenant_id?: string;
            };
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Cancelled */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such object or route (not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The key is already held (key_exists) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    headV1UploadsById: {
        parameters: {
            query?: {
                /** @description Tenant (or X-Tenant); an admin naming none reaches the object in whatever tenant it is */
                tenant_id?: string;
            };
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Upload-Offset and Upload-Length */
            200: {
                headers: {
                    /** @description Bytes the session holds, durably */
                    "Upload-Offset"?: number;
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such object or route (not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    patchV1UploadsById: {
        parameters: {
            query?: {
                /** @description Tenant (or X-Tenant); an admin naming none reaches the object in whatever tenant it is */
                tenant_id?: string;
            };
            header: {
                /** @description The session's current offset */
                "Upload-Offset": number;
                /** @description This chunk's SHA-256, hex */
                "X-Content-SHA256"?: string;
            };
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/offset+octet-stream": string;
                "*/*": string;
            };
        };
        responses: {
            /** @description Appended and durable */
            204: {
                headers: {
                    /** @description Bytes the session holds, durably */
                    "Upload-Offset"?: number;
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such object or route (not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The key is already held (key_exists) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too large (payload_too_large, quota_exceeded) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Unavailable (unavailable) */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Out of storage (insufficient_storage) */
            507: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    postV1UploadsByIdComplete: {
        parameters: {
            query?: {
                /** @description Tenant (or X-Tenant); an admin naming none reaches the object in whatever tenant it is */
                tenant_id?: string;
            };
            header?: {
                /** @description The whole object's SHA-256, hex */
                "X-Content-SHA256"?: string;
            };
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The stored object */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** Format: uuid */
                        id: string;
                        namespace: string;
                        tenant_id: string;
                        key: (string | null) | null;
                        /** @constant */
                        status: "COMMITTED";
                        storage_class: "hot" | "cold";
                        content_hash: string;
                        size_bytes: string | number;
                        content_type: string;
                        metadata: {
                            [key: string]: unknown;
                        };
                        created_at: string;
                        updated_at: string;
                        expires_at: (string | null) | null;
                    };
                };
            };
            /** @description The stored object */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** Format: uuid */
                        id: string;
                        namespace: string;
                        tenant_id: string;
                        key: (string | null) | null;
                        /** @constant */
                        status: "COMMITTED";
                        storage_class: "hot" | "cold";
                        content_hash: string;
                        size_bytes: string | number;
                        content_type: string;
                        metadata: {
                            [key: string]: unknown;
                        };
                        created_at: string;
                        updated_at: string;
                        expires_at: (string | null) | null;
                    };
                };
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such object or route (not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The key is already held (key_exists) */
            409: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description A precondition failed (precondition_failed) */
            412: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Unavailable (unavailable) */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Out of storage (insufficient_storage) */
            507: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    getV1ObjectsById: {
        parameters: {
            query?: {
                /** @description Tenant (or X-Tenant); an admin naming none reaches the object in whatever tenant it is */
                tenant_id?: string;
                /** @description 1 or true adds Content-Disposition: attachment */
                download?: string;
                /** @description Presigned URL (from POST /v1/presign): the credential that signed it */
                presign_signer?: string;
                /** @description Presigned URL: the tenant it acts in */
                presign_tenant?: string;
                /** @description Presigned URL: the namespace it acts in */
                presign_namespace?: string;
                /** @description Presigned URL: when it expires, in unix seconds */
                presign_expires?: string;
                /** @description Presigned URL: HMAC-SHA256 over the method, path and the parameters above */
                presign_signature?: string;
            };
            header?: {
                /** @description bytes=a-b, a- or -n */
                Range?: string;
                /** @description Entity tags */
                "If-Match"?: string;
                /** @description Entity tags */
                "If-None-Match"?: string;
                /** @description HTTP date */
                "If-Modified-Since"?: string;
                /** @description HTTP date */
                "If-Unmodified-Since"?: string;
                /** @description Entity tag or HTTP date */
                "If-Range"?: string;
            };
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The object bytes (streamed) */
            200: {
                headers: {
                    /** @description Strong: "sha256:<hex>" */
                    ETag?: string;
                    /** @description sha256:<hex> */
                    "X-Content-Hash"?: string;
                    "Last-Modified"?: string;
                    "Accept-Ranges"?: string;
                    "Content-Length"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/octet-stream": string;
                };
            };
            /** @description The requested range */
            206: {
                headers: {
                    /** @description Strong: "sha256:<hex>" */
                    ETag?: string;
                    /** @description sha256:<hex> */
                    "X-Content-Hash"?: string;
                    "Last-Modified"?: string;
                    "Accept-Ranges"?: string;
                    "Content-Length"?: number;
                    "Content-Range"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/octet-stream": string;
                };
            };
            /** @description Not modified (If-None-Match / If-Modified-Since) */
            304: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such object or route (not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description A precondition failed (precondition_failed) */
            412: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Range not satisfiable (range_not_satisfiable) */
            416: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    deleteV1ObjectsById: {
        parameters: {
            query?: {
                /** @description Tenant (or X-Tenant); an admin naming none reaches the object in whatever tenant it is */
                tenant_id?: string;
            };
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such object or route (not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    headV1ObjectsById: {
        parameters: {
            query?: {
                /** @description Tenant (or X-Tenant); an admin naming none reaches the object in whatever tenant it is */
                tenant_id?: string;
                /** @description 1 or true adds Content-Disposition: attachment */
                download?: string;
                /** @description Presigned URL (from POST /v1/presign): the credential that signed it */
                presign_signer?: string;
                /** @description Presigned URL: the tenant it acts in */
                presign_tenant?: string;
                /** @description Presigned URL: the namespace it acts in */
                presign_namespace?: string;
                /** @description Presigned URL: when it expires, in unix seconds */
                presign_expires?: string;
                /** @description Presigned URL: HMAC-SHA256 over the method, path and the parameters above */
                presign_signature?: string;
            };
            header?: {
                /** @description bytes=a-b, a- or -n */
                Range?: string;
                /** @description Entity tags */
                "If-Match"?: string;
                /** @description Entity tags */
                "If-None-Match"?: string;
                /** @description HTTP date */
                "If-Modified-Since"?: string;
                /** @description HTTP date */
                "If-Unmodified-Since"?: string;
                /** @description Entity tag or HTTP date */
                "If-Range"?: string;
            };
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The object bytes (streamed) */
            200: {
                headers: {
                    /** @description Strong: "sha256:<hex>" */
                    ETag?: string;
                    /** @description sha256:<hex> */
                    "X-Content-Hash"?: string;
                    "Last-Modified"?: string;
                    "Accept-Ranges"?: string;
                    "Content-Length"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/octet-stream": string;
                };
            };
            /** @description The requested range */
            206: {
                headers: {
                    /** @description Strong: "sha256:<hex>" */
                    ETag?: string;
                    /** @description sha256:<hex> */
                    "X-Content-Hash"?: string;
                    "Last-Modified"?: string;
                    "Accept-Ranges"?: string;
                    "Content-Length"?: number;
                    "Content-Range"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/octet-stream": string;
                };
            };
            /** @description Not modified (If-None-Match / If-Modified-Since) */
            304: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such object or route (not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description A precondition failed (precondition_failed) */
            412: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Range not satisfiable (range_not_satisfiable) */
            416: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    getV1ObjectsVersions: {
        parameters: {
            query?: {
                namespace?: string;
                tenant_id?: string;
                key?: string;
                limit?: string;
                cursor?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        objects: {
                            /** Format: uuid */
                            id: string;
                            namespace: string;
                            tenant_id: string;
                            key: ((string | null) | null) | null;
                            /** @constant */
                            status: "COMMITTED";
                            /** @enum {string} */
                            storage_class: "hot" | "cold";
                            content_hash: string;
                            size_bytes: string | number;
                            content_type: string;
                            metadata: {
                                [key: string]: unknown;
                            };
                            created_at: string;
                            updated_at: string;
                            expires_at: ((string | null) | null) | null;
                            is_current: boolean;
                        }[];
                        next_cursor: ((string | null) | null) | null;
                    };
                };
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    getV1NamespacesByNamespace: {
        parameters: {
            query?: {
                /** @description Tenant (or X-Tenant); an admin must name one */
                tenant_id?: string;
            };
            header?: never;
            path: {
                namespace: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        namespace: string;
                        tenant_id: string;
                        versioning: boolean;
                        keep_versions: ((string | number) | null) | null;
                        default_expires_in: ((string | number) | null) | null;
                        cold_after_idle_secs: ((string | number) | null) | null;
                        quota_bytes: ((string | number) | null) | null;
                        quota_objects: ((string | number) | null) | null;
                    };
                };
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    putV1NamespacesByNamespace: {
        parameters: {
            query?: {
                /** @description Tenant (or X-Tenant); an admin must name one */
                tenant_id?: string;
            };
            header?: never;
            path: {
                namespace: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /** @description Keep a replaced or deleted object as a noncurrent version */
                    versioning?: boolean;
                    /** @description Noncurrent versions kept per key; older ones are deleted (null: all) */
                    keep_versions?: number | null;
                    /** @description Seconds after its upload that an object sent without an expiry expires */
                    default_expires_in?: number | null;
                    /** @description Seconds without a read after which a hot object moves to cold */
                    cold_after_idle_secs?: number | null;
                    /** @description Logical bytes the namespace may hold */
                    quota_bytes?: number | null;
                    /** @description Committed objects the namespace may hold */
                    quota_objects?: number | null;
                };
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        namespace: string;
                        tenant_id: string;
                        versioning: boolean;
                        keep_versions: ((string | number) | null) | null;
                        default_expires_in: ((string | number) | null) | null;
                        cold_after_idle_secs: ((string | number) | null) | null;
                        quota_bytes: ((string | number) | null) | null;
                        quota_objects: ((string | number) | null) | null;
                    };
                };
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Unsupported Content-Type (unsupported_media_type) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    getV1Namespaces: {
        parameters: {
            query?: {
                /** @description Tenant (or X-Tenant); an admin must name one */
                tenant_id?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        namespaces: {
                            namespace: string;
                            tenant_id: string;
                            versioning: boolean;
                            keep_versions: ((string | number) | null) | null;
                            default_expires_in: ((string | number) | null) | null;
                            cold_after_idle_secs: ((string | number) | null) | null;
                            quota_bytes: ((string | number) | null) | null;
                            quota_objects: ((string | number) | null) | null;
                            usage: {
                                objects: string | number;
                                logical_bytes: string | number;
                                physical_bytes: string | number;
                            };
                        }[];
                    };
                };
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    getV1AdminTenantsByTenant_id: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                tenant_id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        tenant_id: string;
                        quota_bytes: ((string | number) | null) | null;
                        quota_objects: ((string | number) | null) | null;
                    };
                };
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    putV1AdminTenantsByTenant_id: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                tenant_id: string;
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    /** @description Logical bytes the tenant may hold (null: no limit) */
                    quota_bytes?: number | null;
                    /** @description Committed objects the tenant may hold (null: no limit) */
                    quota_objects?: number | null;
                };
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        tenant_id: string;
                        quota_bytes: ((string | number) | null) | null;
                        quota_objects: ((string | number) | null) | null;
                    };
                };
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Unsupported Content-Type (unsupported_media_type) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    postV1ObjectsSearch: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    namespace?: string;
                    tenant_id?: string;
                    limit?: number;
                    cursor?: string;
                    order?: "asc" | "desc" | "relevance";
                    key_prefix?: string;
                    key_contains?: string;
                    content_type?: string;
                    storage_class?: string;
                    min_size?: number;
                    max_size?: number;
                    created_after?: string;
                    created_before?: string;
                    metadata?: {
                        [key: string]: unknown;
                    };
                    text?: string;
                };
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        objects: {
                            /** Format: uuid */
                            id: string;
                            namespace: string;
                            tenant_id: string;
                            key: ((string | null) | null) | null;
                            /** @constant */
                            status: "COMMITTED";
                            /** @enum {string} */
                            storage_class: "hot" | "cold";
                            content_hash: string;
                            size_bytes: string | number;
                            content_type: string;
                            metadata: {
                                [key: string]: unknown;
                            };
                            created_at: string;
                            updated_at: string;
                            expires_at: ((string | null) | null) | null;
                        }[];
                        next_cursor: ((string | null) | null) | null;
                    };
                };
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Unsupported Content-Type (unsupported_media_type) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    getV1Usage: {
        parameters: {
            query?: {
                tenant_id?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        tenant_id: string;
                        objects: string | number;
                        /** @description Sum of the sizes of every committed object */
                        logical_bytes: string | number;
                        /** @description Sum of the sizes of the distinct blobs referenced (per storage class) */
                        physical_bytes: string | number;
                        quota_bytes: ((string | number) | null) | null;
                        quota_objects: ((string | number) | null) | null;
                        by_namespace: {
                            namespace: string;
                            /** @enum {string} */
                            storage_class: "hot" | "cold";
                            objects: string | number;
                            /** @description Sum of the sizes of every committed object */
                            logical_bytes: string | number;
                            /** @description Sum of the sizes of the distinct blobs referenced (per storage class) */
                            physical_bytes: string | number;
                        }[];
                        namespace_quotas: {
                            namespace: string;
                            objects: string | number;
                            /** @description Sum of the sizes of every committed object */
                            logical_bytes: string | number;
                            quota_bytes: ((string | number) | null) | null;
                            quota_objects: ((string | number) | null) | null;
                        }[];
                    };
                };
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    "getV1Api-keys": {
        parameters: {
            query?: {
                /** @description Items per page, 1–1000 (100) */
                limit?: number;
                /** @description next_cursor of the page before */
                cursor?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        api_keys: {
                            id: string;
                            name: string;
                            tenant_id: string;
                            permissions: ("objects:read" | "objects:write" | "objects:delete" | "keys:manage" | "admin")[];
                            namespaces: ((string[] | null) | null) | null;
                            expires_at: ((string | null) | null) | null;
                            created_at: string;
                            last_used_at: ((string | null) | null) | null;
                        }[];
                        next_cursor: ((string | null) | null) | null;
                    };
                };
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    "postV1Api-keys": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    name: string;
                    tenant_id?: string;
                    permissions: string[];
                    namespaces?: string[] | null;
                    expires_at?: string | null;
                };
            };
        };
        responses: {
            /** @description Response for status 201 */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        id: string;
                        name: string;
                        tenant_id: string;
                        permissions: ("objects:read" | "objects:write" | "objects:delete" | "keys:manage" | "admin")[];
                        namespaces: ((string[] | null) | null) | null;
                        expires_at: ((string | null) | null) | null;
                        created_at: string;
                        last_used_at: ((string | null) | null) | null;
                        key: string;
                    };
                };
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Unsupported Content-Type (unsupported_media_type) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    "getV1Api-keysById": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        id: string;
                        name: string;
                        tenant_id: string;
                        permissions: ("objects:read" | "objects:write" | "objects:delete" | "keys:manage" | "admin")[];
                        namespaces: ((string[] | null) | null) | null;
                        expires_at: ((string | null) | null) | null;
                        created_at: string;
                        last_used_at: ((string | null) | null) | null;
                    };
                };
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such object or route (not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    "deleteV1Api-keysById": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                id: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Revoked */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such object or route (not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    postV1Presign: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": {
                    method: "GET" | "PUT";
                    namespace: string;
                    tenant_id?: string;
                    key?: string;
                    id?: string;
                    expires_in?: number;
                    max_bytes?: number;
                };
            };
        };
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        url: string;
                        method: string;
                        expires_at: string;
                    };
                };
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Unsupported Content-Type (unsupported_media_type) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    getV1AdminAudit: {
        parameters: {
            query?: {
                /** @description Items per page, 1–1000 (100) */
                limit?: number;
                /** @description next_cursor of the page before */
                cursor?: string;
                /** @description Only this tenant's events (or X-Tenant) */
                tenant_id?: string;
            };
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        events: {
                            id: string | number;
                            at: string;
                            actor: string;
                            tenant_id: ((string | null) | null) | null;
                            action: string;
                            target: ((string | null) | null) | null;
                            request_id: ((string | null) | null) | null;
                        }[];
                        next_cursor: ((string | null) | null) | null;
                    };
                };
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    postV1AdminGc: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        deleted_blobs: string | number;
                        reclaimed_bytes: string | number;
                        reaped_uploads: string | number;
                        removed_temp_files: string | number;
                        removed_orphan_files: string | number;
                    };
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    postV1AdminScrub: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        checked: string | number;
                        corrupt: {
                            content_hash: string;
                            storage_class: string;
                        }[];
                    };
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    postV1AdminLifecycle: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Response for status 200 */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        expired: string | number;
                        pruned_versions: string | number;
                        moved_to_cold: string | number;
                    };
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    getV1AdminStatus: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description `jobs`: gc, scrub, lifecycle, reaper and orphan_sweep, each with `last_run` (of the last run in any replica; null before the first) and `next_run_at` (when this replica runs it next; null if it does not schedule it). `queues`: counts of blobs and objects waiting for background work. `disks`: free and total bytes per storage root. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        jobs: {
                            [key: string]: {
                                last_run: (({
                                    started_at: ((string | null) | null) | null;
                                    finished_at: ((string | null) | null) | null;
                                    outcome: (({
                                        [key: string]: unknown;
                                    } | null) | null) | null;
                                    error: ((string | null) | null) | null;
                                } | null) | null) | null;
                                next_run_at: ((string | null) | null) | null;
                            };
                        };
                        queues: {
                            [key: string]: number;
                        };
                        disks: {
                            [key: string]: {
                                path: string;
                                free_bytes: number;
                                total_bytes: number;
                            };
                        };
                    };
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    getV1ObjectsByKey: {
        parameters: {
            query?: {
                /** @description 1 or true adds Content-Disposition: attachment */
                download?: string;
                /** @description Presigned URL (from POST /v1/presign): the credential that signed it */
                presign_signer?: string;
                /** @description Presigned URL: the tenant it acts in */
                presign_tenant?: string;
                /** @description Presigned URL: the namespace it acts in */
                presign_namespace?: string;
                /** @description Presigned URL: when it expires, in unix seconds */
                presign_expires?: string;
                /** @description Presigned URL: HMAC-SHA256 over the method, path and the parameters above */
                presign_signature?: string;
            };
            header?: {
                /** @description bytes=a-b, a- or -n */
                Range?: string;
                /** @description Entity tags */
                "If-Match"?: string;
                /** @description Entity tags */
                "If-None-Match"?: string;
                /** @description HTTP date */
                "If-Modified-Since"?: string;
                /** @description HTTP date */
                "If-Unmodified-Since"?: string;
                /** @description Entity tag or HTTP date */
                "If-Range"?: string;
            };
            path: {
                namespace: string;
                tenant_id: string;
                /** @description The rest of the path, percent-encoded; may contain / */
                key: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The object bytes (streamed) */
            200: {
                headers: {
                    /** @description Strong: "sha256:<hex>" */
                    ETag?: string;
                    /** @description sha256:<hex> */
                    "X-Content-Hash"?: string;
                    "Last-Modified"?: string;
                    "Accept-Ranges"?: string;
                    "Content-Length"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/octet-stream": string;
                };
            };
            /** @description The requested range */
            206: {
                headers: {
                    /** @description Strong: "sha256:<hex>" */
                    ETag?: string;
                    /** @description sha256:<hex> */
                    "X-Content-Hash"?: string;
                    "Last-Modified"?: string;
                    "Accept-Ranges"?: string;
                    "Content-Length"?: number;
                    "Content-Range"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/octet-stream": string;
                };
            };
            /** @description Not modified (If-None-Match / If-Modified-Since) */
            304: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such object or route (not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description A precondition failed (precondition_failed) */
            412: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Range not satisfiable (range_not_satisfiable) */
            416: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    putV1ObjectsByKey: {
        parameters: {
            query?: {
                /** @description Presigned URL (from POST /v1/presign): the credential that signed it */
                presign_signer?: string;
                /** @description Presigned URL: the tenant it acts in */
                presign_tenant?: string;
                /** @description Presigned URL: the namespace it acts in */
                presign_namespace?: string;
                /** @description Presigned URL: when it expires, in unix seconds */
                presign_expires?: string;
                /** @description Presigned upload: the most bytes it may store */
                presign_max_bytes?: string;
                /** @description Presigned URL: HMAC-SHA256 over the method, path and the parameters above */
                presign_signature?: string;
                /** @description hot (default) or cold (or X-Storage-Class) */
                storage_class?: string;
            };
            header?: {
                /** @description * → create only */
                "If-None-Match"?: string;
                /** @description Replace only if the current ETag matches */
                "If-Match"?: string;
                /** @description Tenant */
                "X-Tenant"?: string;
                /** @description hot or cold */
                "X-Storage-Class"?: string;
                /** @description A JSON object (≤ 8 KiB) stored as metadata */
                "X-Metadata"?: string;
                /** @description Expected SHA-256 of the body, hex */
                "X-Content-SHA256"?: string;
                /** @description Expected digest as sha-256=:<base64>: */
                "Content-Digest"?: string;
                /** @description RFC 3339 instant from which the object is gone (404, left out of lists), then deleted by the lifecycle pass */
                "X-Expires-At"?: string;
                /** @description Seconds from now until the object expires (instead of X-Expires-At) */
                "X-Expires-In"?: string;
                /** @description Server-side copy, with no body: an object id, or sha256:<hex> of content the tenant holds in the target class. Needs objects:read on the source; absent or unreachable → 404. Content-Type and X-Metadata default to the source's */
                "X-Copy-Source"?: string;
            };
            path: {
                namespace: string;
                tenant_id: string;
                /** @description The rest of the path, percent-encoded; may contain / */
                key: string;
            };
            cookie?: never;
        };
        /** @description The raw object bytes, streamed; Content-Type is stored with the object. None with X-Copy-Source */
        requestBody?: {
            content: {
                "application/octet-stream": string;
                "*/*": string;
            };
        };
        responses: {
            /** @description The stored object */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** Format: uuid */
                        id: string;
                        namespace: string;
                        tenant_id: string;
                        key: (string | null) | null;
                        /** @constant */
                        status: "COMMITTED";
                        storage_class: "hot" | "cold";
                        content_hash: string;
                        size_bytes: string | number;
                        content_type: string;
                        metadata: {
                            [key: string]: unknown;
                        };
                        created_at: string;
                        updated_at: string;
                        expires_at: (string | null) | null;
                    };
                };
            };
            /** @description The stored object */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        /** Format: uuid */
                        id: string;
                        namespace: string;
                        tenant_id: string;
                        key: (string | null) | null;
                        /** @constant */
                        status: "COMMITTED";
                        storage_class: "hot" | "cold";
                        content_hash: string;
                        size_bytes: string | number;
                        content_type: string;
                        metadata: {
                            [key: string]: unknown;
                        };
                        created_at: string;
                        updated_at: string;
                        expires_at: (string | null) | null;
                    };
                };
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such object or route (not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description A precondition failed (precondition_failed) */
            412: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too large (payload_too_large, quota_exceeded) */
            413: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Unsupported Content-Type (unsupported_media_type) */
            415: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Unavailable (unavailable) */
            503: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Out of storage (insufficient_storage) */
            507: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    deleteV1ObjectsByKey: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                namespace: string;
                tenant_id: string;
                /** @description The rest of the path, percent-encoded; may contain / */
                key: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Deleted */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such object or route (not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
    headV1ObjectsByKey: {
        parameters: {
            query?: {
                /** @description 1 or true adds Content-Disposition: attachment */
                download?: string;
                /** @description Presigned URL (from POST /v1/presign): the credential that signed it */
                presign_signer?: string;
                /** @description Presigned URL: the tenant it acts in */
                presign_tenant?: string;
                /** @description Presigned URL: the namespace it acts in */
                presign_namespace?: string;
                /** @description Presigned URL: when it expires, in unix seconds */
                presign_expires?: string;
                /** @description Presigned URL: HMAC-SHA256 over the method, path and the parameters above */
                presign_signature?: string;
            };
            header?: {
                /** @description bytes=a-b, a- or -n */
                Range?: string;
                /** @description Entity tags */
                "If-Match"?: string;
                /** @description Entity tags */
                "If-None-Match"?: string;
                /** @description HTTP date */
                "If-Modified-Since"?: string;
                /** @description HTTP date */
                "If-Unmodified-Since"?: string;
                /** @description Entity tag or HTTP date */
                "If-Range"?: string;
            };
            path: {
                namespace: string;
                tenant_id: string;
                /** @description The rest of the path, percent-encoded; may contain / */
                key: string;
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The object bytes (streamed) */
            200: {
                headers: {
                    /** @description Strong: "sha256:<hex>" */
                    ETag?: string;
                    /** @description sha256:<hex> */
                    "X-Content-Hash"?: string;
                    "Last-Modified"?: string;
                    "Accept-Ranges"?: string;
                    "Content-Length"?: number;
                    [name: string]: unknown;
                };
                content: {
                    "application/octet-stream": string;
                };
            };
            /** @description The requested range */
            206: {
                headers: {
                    /** @description Strong: "sha256:<hex>" */
                    ETag?: string;
                    /** @description sha256:<hex> */
                    "X-Content-Hash"?: string;
                    "Last-Modified"?: string;
                    "Accept-Ranges"?: string;
                    "Content-Length"?: number;
                    "Content-Range"?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/octet-stream": string;
                };
            };
            /** @description Not modified (If-None-Match / If-Modified-Since) */
            304: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            /** @description Malformed request (bad_request, invalid_namespace, invalid_tenant, invalid_key, invalid_storage_class, invalid_metadata, invalid_cursor, invalid_range, digest_mismatch) */
            400: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No valid credential (unauthenticated) */
            401: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description The credential may not do this (forbidden) */
            403: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description No such object or route (not_found) */
            404: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description A precondition failed (precondition_failed) */
            412: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Range not satisfiable (range_not_satisfiable) */
            416: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Too many requests (rate_limited) */
            429: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
            /** @description Internal error or corrupt object (internal, corrupt_object) */
            500: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Error"];
                };
            };
        };
    };
}

/** Component schemas of the OpenAPI document (JSON Schema 2020-12, as OpenAPI 3.1 uses). */
const str = { type: 'string' } as const;
const bool = { type: 'boolean' } as const;
const int = { type: 'integer', minimum: 0 } as const;
const row = { type: 'object', additionalProperties: { type: ['string', 'null'] }, description: 'A table row: column → text or null' } as const;
const imageName = { type: 'string', pattern: '^[A-Za-z0-9._+-]{1,128}$' } as const;
const states = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
const types = ['import', 'export', 'snapshot', 'snapshot-image', 'publish'];
const importOptions = {
  name: { ...imageName, description: 'Import under this osimage name' },
  profile: { ...imageName, description: 'Re-profile (xCAT -f): the name becomes <os>-<arch>-<method>-<profile>' },
  force: { ...bool, description: 'Replace an existing image (a snapshot of it is taken first)' },
  dryRun: { ...bool, description: 'Validate and report the plan; write nothing' },
  fromRoot: { ...str, description: "The exporting node's install directory (default /install)" },
};

export const schemas = {
  Error: {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: { code: { ...str, examples: ['BAD_REQUEST', 'UNAUTHORIZED', 'NOT_FOUND', 'IMAGE_NOT_FOUND', 'CONFLICT', 'LIMIT_EXCEEDED', 'QUEUE_UNAVAILABLE'] }, message: str },
      },
    },
  },
  Accepted: {
    type: 'object',
    required: ['id', 'status'],
    properties: { id: str, status: { ...str, description: 'URL of the job status: /v1/jobs/<id>' } },
  },
  JobProgress: {
    type: 'object',
    properties: {
      phase: { enum: ['receive', 'stage', 'verify', 'plan', 'snapshot', 'commit', 'collect', 'pack', 'write', 'done'] },
      percent: { type: 'number', minimum: 0, maximum: 100 },
      bytesDone: int,
      bytesTotal: int,
    },
  },
  JobStatus: {
    type: 'object',
    required: ['id', 'type', 'state', 'progress', 'attempts', 'createdAt', 'updatedAt'],
    properties: {
      id: str,
      type: { enum: types },
      state: { enum: states },
      image: str,
      progress: { $ref: '#/components/schemas/JobProgress' },
      attempts: int,
      result: { description: 'The import, export or snapshot result once succeeded' },
      error: { type: 'object', properties: { code: str, message: str } },
      children: {
        type: 'array',
        description: 'Bulk snapshot: one snapshot-image job per image',
        items: { type: 'object', properties: { id: str, image: str, state: { enum: states } } },
      },
      parentId: str,
      createdAt: { ...str, format: 'date-time' },
      updatedAt: { ...str, format: 'date-time' },
    },
  },
  JobList: {
    type: 'object',
    required: ['jobs', 'total', 'limit', 'offset', 'next'],
    properties: {
      jobs: { type: 'array', items: { $ref: '#/components/schemas/JobStatus' } },
      total: int,
      limit: int,
      offset: int,
      next: { type: ['string', 'null'], description: 'URL of the next page, null on the last' },
    },
  },
  ImportJson: {
    type: 'object',
    required: ['source'],
    additionalProperties: false,
    properties: {
      source: { ...str, description: 'An absolute path inside IMGPORT_SOURCE_DIRS, or an http(s):// URL the worker fetches' },
      ...importOptions,
    },
  },
  ExportRequest: {
    type: 'object',
    required: ['image'],
    additionalProperties: false,
    properties: {
      image: imageName,
      extras: { type: 'array', items: { ...str, description: 'SRC[:DESTDIR] (xCAT -e), inside the install root' } },
      format: { enum: ['native', 'xcat'] },
      include: { oneOf: [{ const: 'all' }, { type: 'array', items: { enum: ['pkglist', 'exlist', 'otherpkglist', 'postinstall', 'synclists'] } }] },
    },
  },
  SnapshotRequest: {
    type: 'object',
    additionalProperties: false,
    description: 'Exactly one of images, selector or all',
    properties: {
      images: { type: 'array', items: imageName, minItems: 1 },
      selector: {
        type: 'object',
        additionalProperties: false,
        properties: { name: { ...str, description: 'Glob: * and ?' }, os: str, arch: str, method: str },
      },
      all: { const: true },
      label: str,
    },
  },
  Snapshot: {
    type: 'object',
    required: ['id', 'image', 'timestamp', 'path', 'bytes', 'sha256', 'createdAt'],
    properties: { id: { ...str, description: '<image>@<UTC stamp>' }, image: str, timestamp: str, label: str, path: str, bytes: int, sha256: str, createdAt: str },
  },
  Image: {
    type: 'object',
    required: ['name', 'osimage', 'linuximage', 'ready', 'missing'],
    properties: {
      name: str,
      osimage: row,
      linuximage: { oneOf: [row, { type: 'null' }] },
      litefile: { type: 'array', items: row, description: 'Only in GET /v1/images/{name}' },
      ready: { ...bool, description: 'The files nodeset needs are there' },
      missing: { type: 'array', items: str, description: 'What is not there' },
    },
  },
  Readiness: {
    type: 'object',
    required: ['status', 'checks'],
    properties: {
      status: { enum: ['ready', 'unready', 'shutting down'] },
      checks: {
        type: 'object',
        properties: Object.fromEntries(
          ['redis', 'db', 'spool'].map((k) => [k, { type: 'object', required: ['ok'], properties: { ok: bool, message: str, freeBytes: int } }]),
        ),
      },
    },
  },
} as const;

export { importOptions };

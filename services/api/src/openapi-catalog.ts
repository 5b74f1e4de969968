/** The publish and catalog routes of issue 13 in the API description. */
const json = (schema: object) => ({ 'application/json': { schema } });
const err = (description: string) => ({ description, content: json({ $ref: '#/components/schemas/Error' }) });
const accepted = { description: 'Accepted: the job was enqueued', content: json({ $ref: '#/components/schemas/Accepted' }) };

export const catalogPaths = {
  '/v1/publish': {
    post: {
      summary: 'Publish an image or one of its snapshots to an OCI registry (oci://, under IMGPORT_URL_ALLOW) or a catalog directory (inside IMGPORT_SOURCE_DIRS)',
      requestBody: {
        required: true,
        content: json({ type: 'object', required: ['image', 'destination'], properties: { image: { type: 'string' }, snapshot: { type: 'string' }, destination: { type: 'string' } }, additionalProperties: false }),
      },
      responses: { '202': accepted, '400': err('Bad request'), '401': err('Missing or wrong bearer token'), '404': err('No such image') },
    },
  },
  '/v1/catalog/index.json': {
    get: { summary: "This node's snapshot bundles as a static catalog (version, expires, entries)", responses: { '200': { description: 'The catalog', content: json({ type: 'object' }) }, '401': err('Missing or wrong bearer token') } },
  },
  '/v1/catalog/index.json.sig': {
    get: { summary: 'The sshsig of index.json (namespace imgport-catalog)', responses: { '200': { description: 'Armored SSH SIGNATURE', content: { 'text/plain': { schema: { type: 'string' } } } }, '404': err('The server signs nothing (IMGPORT_SIGNING_KEY unset)') } },
  },
  '/v1/catalog/bundles/{id}': {
    get: {
      summary: 'One snapshot bundle; Range and If-Range are honoured',
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
      responses: { '200': { description: 'The bundle', content: { 'application/gzip': { schema: { type: 'string' } } } }, '206': { description: 'Part of it' }, '404': err('No such snapshot, or no file') },
    },
  },
} as const;

import { Type } from 'typebox';
import { access, definePlugin, Router, StorageToken, validBody } from '../../core/index.js';

/** The body POST /greetings accepts (JSON Schema, checked with ajv). */
const GREETING = { type: 'object', additionalProperties: false, required: ['name'], properties: { name: { type: 'string', pattern: "^\\p{L}[\\p{L} .'-]{0,63}$" } } };

/** The README's example plugin: a route with a checked body, a config key with a default, and its own table. */
export default definePlugin({
  manifest: { id: 'example', version: '1.0.0', kernel: '^0.2.0', description: 'Greets people and counts the greetings' },
  config: Type.Object({ greeting: Type.String({ minLength: 1, default: 'Hello' }) }, { additionalProperties: false }),
  deps: { storage: StorageToken },
  async start(ctx) {
    const { storage } = ctx.deps;
    await storage.migrate('example', [{ version: 1, name: 'greetings', up: 'CREATE TABLE example_greetings (id serial PRIMARY KEY, name text NOT NULL)' }]);
    const router = new Router();
    router.post('/greetings', access.signedIn(), async (http) => {
      const { name } = validBody<{ name: string }>(http.request.body, GREETING); // 400 GF_VALIDATION_FAILED naming each bad field
      await storage.query('INSERT INTO example_greetings (name) VALUES ($1)', [name]);
      const { rows } = await storage.query<{ n: number }>('SELECT count(*)::int AS n FROM example_greetings');
      http.status = 201;
      http.body = { message: `${ctx.config.greeting}, ${name}!`, count: rows[0]!.n };
    });
    ctx.mount('/api/example', router);
  },
});

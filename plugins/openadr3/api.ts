import { createToken, type Token } from '../../core/index.js';
import type { ClientRegistry } from './auth.js';

/** What the openadr3 plugin offers other plugins (and its CLI command). */
export interface Oa3Api {
  clients: ClientRegistry;
}

export const Oa3Token: Token<Oa3Api> = createToken<Oa3Api>('openadr3.api');

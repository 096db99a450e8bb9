import { createToken, type Token } from '../../core/index.js';
import type { ClientRegistry } from './auth.js';
import type { Oa3Bridge } from './bridge.js';

export type { ChangeListener, Oa3Bridge } from './bridge.js';
export type { ObjectRow } from './objects.js';
export type { Operation } from './notify.js';

/** What the openadr3 plugin offers other plugins (and its CLI command). */
export interface Oa3Api {
  clients: ClientRegistry;
  /** Vens, events and change notifications for other protocol front ends (the 2.0b VTN). */
  bridge: Oa3Bridge;
}

export const Oa3Token: Token<Oa3Api> = createToken<Oa3Api>('openadr3.api');

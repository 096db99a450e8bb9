// tsyringe needs the Reflect metadata polyfill loaded before it is imported (ADR 0001).
import 'reflect-metadata';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';

export type { DependencyContainer };

/**
 * A typed injection token. We never inject by class (ADR 0001): a token names a capability,
 * and works the same under tsc, tsx and swc because no decorator metadata is needed.
 */
export interface Token<T> {
  readonly key: symbol;
  readonly name: string;
  /** Phantom field carrying the type; never set. */
  readonly __type?: T;
}

export function createToken<T>(name: string): Token<T> {
  return Object.freeze({ key: Symbol.for(`gridflex:${name}`), name });
}

/** A fresh root container (one per host, so tests can boot several hosts in one process). */
export function createRootContainer(): DependencyContainer {
  return rootContainer.createChildContainer();
}

export function registerValue<T>(c: DependencyContainer, token: Token<T>, value: T): void {
  c.register(token.key, { useValue: value });
}

export function registerFactory<T>(c: DependencyContainer, token: Token<T>, factory: (c: DependencyContainer) => T): void {
  let made = false;
  let value: T;
  // Singleton per container without instanceCachingFactory's class-based typing.
  c.register(token.key, {
    useFactory: (dc) => {
      if (!made) {
        value = factory(dc);
        made = true;
      }
      return value;
    },
  });
}

export function resolveToken<T>(c: DependencyContainer, token: Token<T>): T {
  if (!c.isRegistered(token.key, true)) {
    throw new Error(`no provider for token ${token.name}`);
  }
  return c.resolve<T>(token.key);
}

export function isTokenRegistered(c: DependencyContainer, token: Token<unknown>): boolean {
  return c.isRegistered(token.key, true);
}

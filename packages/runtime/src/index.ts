export * from './config.ts';
export * from './logger.ts';
export * from './object-store.ts';
export * from './redis.ts';
export * from './queue-settings.ts';
export * from './store-retry.ts';

import { createLogger } from '../platform/logging';
const log = createLogger({ name: 't' });
log.error(new Error('bad bearer +447400123456 and your code is 493817'));
log.info('Your Aura code: 123456. port 54320, took 123456 ms');

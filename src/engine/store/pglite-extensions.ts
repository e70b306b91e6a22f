import {pgcrypto} from '@electric-sql/pglite/contrib/pgcrypto'
import {uuid_ossp} from '@electric-sql/pglite/contrib/uuid_ossp'

/**
 * The contrib extensions Attune's schema uses (`uuid-ossp`, and `pgcrypto` for
 * `generate_webhook_key()`), loaded into every embedded database. PGlite ships them as
 * WebAssembly modules; `CREATE EXTENSION` in the platform migration then finds them.
 */
export const PGLITE_EXTENSIONS = {uuid_ossp, pgcrypto}

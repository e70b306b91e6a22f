/**
 * Child process for the lock tests: opens the embedded store in the home given as argv[2].
 * `try`: exit 0 if it opened (then closes), 2 with the error message on stderr if not.
 * `hold`: open, write `ready <pid>` on stdout, keep it open until stdin closes or SIGKILL.
 */
import {AbortError} from '../../../src/engine/errors.js'
import {openStore} from '../../../src/engine/store/index.js'

const [home, mode = 'try'] = process.argv.slice(2)
try {
  const store = await openStore({home})
  if (mode === 'hold') {
    await store.query("INSERT INTO attune.identity (login) VALUES ('sensor:child')")
    process.stdout.write(`ready ${process.pid}\n`)
    process.stdin.resume()
    process.stdin.on('end', () => void store.close().then(() => process.exit(0)))
  } else {
    await store.close()
    process.exit(0)
  }
} catch (error) {
  process.stderr.write(`${error instanceof AbortError ? 'AbortError' : 'Error'}: ${(error as Error).message}\n`)
  process.exit(error instanceof AbortError ? 2 : 1)
}

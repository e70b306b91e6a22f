/**
 * Packaging and deployment, checked without a container engine (docs/deploy.md):
 * - the Dockerfile lints clean and follows the rules (non-root user, HEALTHCHECK on /readyz,
 *   no ADD of a URL, node:20 slim base), and every COPY source is in the build context;
 * - compose.yaml validates against the Compose Specification's JSON schema (vendored in
 *   test/fixtures/compose-spec) and every service waits for healthy dependencies;
 * - `npm pack` makes the tarball users install: LICENSE, dist, bin/run.js, docs, migrations;
 *   no source maps, bin/dev.js, sources or tests; no install-time scripts; README and docs
 *   links resolve inside it; installed from it (the lockfile, offline from the npm cache when
 *   it can), `attune --version` and `attune db migrate` run from another directory.
 */
import {DockerfileParser, type Copy, type Instruction} from 'dockerfile-ast'
import {validate as lintDockerfile} from 'dockerfile-utils'
import {Ajv} from 'ajv'
import addFormatsModule from 'ajv-formats'
import {execa} from 'execa'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, normalize} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parse as parseYaml} from 'yaml'
import {ROOT} from '../support/cli.js'

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8')

// ---------------------------------------------------------------------------------------------
// Dockerfile

/** The build context: files under ROOT minus what .dockerignore excludes (its plain forms). */
function dockerignored(path: string): boolean {
  const patterns = read('.dockerignore')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
  const segments = path.split('/')
  return patterns.some((pattern) => {
    const anywhere = pattern.startsWith('**/')
    const body = anywhere ? pattern.slice(3) : pattern
    const regex = new RegExp(`^${body.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '[^/]*')}$`)
    return anywhere ? segments.some((segment) => regex.test(segment)) : regex.test(segments[0]) || regex.test(path)
  })
}

function words(instruction: Instruction): string[] {
  return instruction.getArguments().map((argument) => argument.getValue())
}

describe('Dockerfile', () => {
  const text = read('Dockerfile')
  const dockerfile = DockerfileParser.parse(text)
  const instructions = dockerfile.getInstructions()
  const lastFrom = instructions.map((instruction) => instruction.getKeyword()).lastIndexOf('FROM')
  const finalStage = instructions.slice(lastFrom)

  it('lints clean', () => {
    expect(lintDockerfile(text).map((diagnostic) => `${diagnostic.range.start.line + 1}: ${diagnostic.message}`)).toEqual([])
  })

  it('builds on node:20 slim and runs as a non-root user', () => {
    const arg = dockerfile.getARGs().find((instruction) => instruction.getProperty()?.getName() === 'NODE_IMAGE')
    const base = arg?.getProperty()?.getValue() ?? ''
    expect(base).toMatch(/^node:20(\.[\d.]+)?-(bookworm-)?slim$/)
    for (const from of dockerfile.getFROMs()) expect(from.getImage()).toBe('${NODE_IMAGE}')

    const users = finalStage.filter((instruction) => instruction.getKeyword() === 'USER').map((instruction) => words(instruction)[0])
    expect(users.length).toBeGreaterThan(0)
    expect(users.at(-1)).not.toMatch(/^(root|0)(:.*)?$/)
    const entrypoint = finalStage.findIndex((instruction) => instruction.getKeyword() === 'ENTRYPOINT')
    const user = finalStage.findIndex((instruction) => instruction.getKeyword() === 'USER')
    expect(user).toBeLessThan(entrypoint)
  })

  it('checks its health on /readyz of the health port the daemon is started with', () => {
    const healthchecks = finalStage.filter((instruction) => instruction.getKeyword() === 'HEALTHCHECK')
    expect(healthchecks).toHaveLength(1)
    const check = healthchecks[0].getArgumentsContent() ?? ''
    expect(check).toContain('/readyz')
    const port = /127\.0\.0\.1:(\d+)\/readyz/.exec(check)?.[1]
    const cmd = finalStage.find((instruction) => instruction.getKeyword() === 'CMD')!
    expect(cmd.getArgumentsContent()).toContain(`"--health-port", "${port}"`)
    const env = finalStage.filter((instruction) => instruction.getKeyword() === 'ENV').map((instruction) => instruction.getArgumentsContent() ?? '').join(' ')
    expect(env).toContain('ATTUNE_HEALTH_HOST=0.0.0.0')
    expect(env).toMatch(/ATTUNE_HOME=\/var\/lib\/attune/)
    const volumes = finalStage.filter((instruction) => instruction.getKeyword() === 'VOLUME').map((instruction) => instruction.getArgumentsContent())
    expect(volumes.join(' ')).toContain('/var/lib/attune')
  })

  it('never ADDs a URL, and every COPY source is in the build context', () => {
    for (const instruction of instructions.filter((i) => i.getKeyword() === 'ADD')) {
      expect(words(instruction).some((word) => /^[a-z]+:\/\//i.test(word)), instruction.getRawArgumentsContent() ?? '').toBe(false)
    }
    const copies = dockerfile.getCOPYs()
    expect(copies.length).toBeGreaterThan(3)
    for (const copy of copies as Copy[]) {
      if (copy.getFromFlag()) continue // from an earlier stage, not the context
      const sources = words(copy).filter((word) => !word.startsWith('--')).slice(0, -1)
      for (const source of sources) {
        const path = normalize(source).replace(/\/$/, '')
        expect(existsSync(join(ROOT, path)), `COPY ${source}: not in the repository`).toBe(true)
        expect(dockerignored(path), `COPY ${source}: excluded by .dockerignore`).toBe(false)
      }
    }
    // What must stay out of the context.
    for (const path of ['node_modules', 'secrets/jwt-secret', '.env', 'test/deploy/package.test.ts', '.git']) expect(dockerignored(path), path).toBe(true)
  })
})

// ---------------------------------------------------------------------------------------------
// compose.yaml

describe('compose.yaml', () => {
  const schema = JSON.parse(read('test/fixtures/compose-spec/compose-spec.json')) as Record<string, unknown>
  delete schema.$schema // draft-07, which ajv knows without the meta-schema's URL
  const ajv = new Ajv({strict: false, allErrors: true})
  // ajv-formats is CommonJS: its default import is the module, whose `default` is the plugin.
  addFormatsModule.default(ajv)
  const validateCompose = ajv.compile(schema)
  const compose = parseYaml(read('compose.yaml'), {merge: true}) as {services: Record<string, Record<string, unknown>>; secrets: Record<string, {file: string}>}

  it('validates against the Compose Specification schema (and the schema catches mistakes)', () => {
    expect(validateCompose(compose), JSON.stringify(validateCompose.errors, null, 2)).toBe(true)
    const broken = structuredClone(compose)
    ;(broken.services.attune.depends_on as Record<string, {condition: string}>).postgres.condition = 'service_up'
    expect(validateCompose(broken)).toBe(false)
    const unknownKey = structuredClone(compose)
    unknownKey.services.attune.restart_policy = 'always'
    expect(validateCompose(unknownKey)).toBe(false)
  })

  it('runs PostgreSQL 15, RabbitMQ, the migration and the daemon, each waiting for what it needs', () => {
    const {services} = compose
    expect(services.postgres.image).toMatch(/^postgres:15/)
    expect(String(services.rabbitmq.image)).toMatch(/^rabbitmq:/)
    expect(services.migrate.command).toEqual(['db', 'migrate'])
    expect((services.attune.command as string[]).slice(0, 1)).toEqual(['daemon'])
    for (const [name, service] of Object.entries(services)) {
      if (name !== 'migrate') expect(service.healthcheck, `${name} has a healthcheck`).toBeDefined()
      for (const [dependency, condition] of Object.entries((service.depends_on ?? {}) as Record<string, {condition: string}>)) {
        const wanted = services[dependency].healthcheck ? 'service_healthy' : 'service_completed_successfully'
        expect(condition.condition, `${name} -> ${dependency}`).toBe(wanted)
      }
    }
    expect(Object.keys(services.attune.depends_on as object).sort()).toEqual(['migrate', 'postgres', 'rabbitmq'])
    expect(JSON.stringify(services.attune.healthcheck)).toContain('/readyz')
    // Secrets come from files, readable by the container's user alone.
    const environment = services.attune.environment as Record<string, string>
    expect(Object.keys(environment).filter((key) => !key.endsWith('_FILE'))).toEqual([])
    for (const secret of services.attune.secrets as Array<{mode: number; uid: string}>) expect(secret).toMatchObject({mode: 0o400, uid: '10001'})
    for (const {file} of Object.values(compose.secrets)) expect(file).toMatch(/^\.\/secrets\//)
  })
})

// ---------------------------------------------------------------------------------------------
// The npm package

describe('the packed package', () => {
  const work = mkdtempSync(join(tmpdir(), 'attune-pack-'))
  let files: string[] = []
  let tarball = ''
  afterAll(() => rmSync(work, {recursive: true, force: true}))

  beforeAll(async () => {
    // The build is npm test's (prepack would run it again: npm run build).
    const packed = await execa('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], {cwd: ROOT})
    const [info] = JSON.parse(packed.stdout) as Array<{filename: string}>
    tarball = join(work, info.filename)
    const listing = await execa('tar', ['-tzf', tarball])
    files = listing.stdout
      .split('\n')
      .filter(Boolean)
      .map((path) => path.replace(/^package\//, ''))
  }, 120_000)

  it('holds the LICENSE, the build, the entry point, the docs and the migrations; no maps, sources or tests', () => {
    for (const path of ['LICENSE', 'README.md', 'package.json', 'bin/run.js', 'oclif.manifest.json', 'dist/commands/db/prune.js', 'docs/deploy.md', 'docs/attune.service', 'migrations/001_attune_platform.sql', 'packs/core/pack.yaml']) {
      expect(files, path).toContain(path)
    }
    expect(files.filter((path) => path.endsWith('.map'))).toEqual([])
    expect(files).not.toContain('bin/dev.js')
    expect(files.filter((path) => /^(src|test|bench|scripts|\.ci)\//.test(path))).toEqual([])
    expect(read('LICENSE')).toContain('Apache License')
    expect(read('LICENSE')).toContain('Version 2.0, January 2004')
  })

  it('runs no script at install time, and says where it comes from', async () => {
    const manifest = JSON.parse((await execa('tar', ['-xzOf', tarball, 'package/package.json'])).stdout) as Record<string, unknown>
    const scripts = (manifest.scripts ?? {}) as Record<string, string>
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) expect(scripts[hook], hook).toBeUndefined()
    expect(scripts.prepack).toBe('npm run build')
    expect(manifest.license).toBe('Apache-2.0')
    expect(manifest.repository).toMatchObject({url: expect.stringContaining('github.com/attune-sensor/attune')})
    expect(manifest.homepage).toEqual(expect.stringContaining('github.com/attune-sensor/attune'))
    expect(manifest.bugs).toMatchObject({url: expect.stringContaining('/issues')})
  })

  it("resolves every relative link of the README and the docs inside the package", () => {
    const documents = files.filter((path) => path === 'README.md' || /^docs\/.*\.md$/.test(path))
    expect(documents.length).toBeGreaterThan(5)
    for (const document of documents) {
      for (const match of read(document).matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = match[1].split('#')[0]
        if (!target || /^[a-z]+:/i.test(target)) continue
        const resolved = normalize(join(dirname(document), target))
        expect(files, `${document} links to ${target}`).toContain(resolved)
      }
    }
  })

  it('bin/run.js in a checkout that was not built says how to build it (exit 2)', async () => {
    const checkout = mkdtempSync(join(work, 'checkout-'))
    mkdirSync(join(checkout, 'bin'))
    await execa('cp', [join(ROOT, 'bin', 'run.js'), join(checkout, 'bin', 'run.js')])
    const run = await execa(process.execPath, [join(checkout, 'bin', 'run.js'), '--version'], {reject: false})
    expect(run.exitCode).toBe(2)
    expect(run.stderr).toContain('npm run build')
  })

  it('installs from the tarball with its lockfile, and runs from another directory', async () => {
    // As the Dockerfile's runtime stage does: unpack, production dependencies from the lockfile.
    const app = join(work, 'app')
    mkdirSync(app)
    await execa('tar', ['-xzf', tarball, '--strip-components=1', '-C', app])
    await execa('cp', [join(ROOT, 'package-lock.json'), app])
    await execa('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], {cwd: app})
    expect(readdirSync(join(app, 'node_modules'))).not.toContain('vitest')
    const bin = join(work, 'bin')
    mkdirSync(bin)
    symlinkSync(join(app, 'bin', 'run.js'), join(bin, 'attune'))
    const elsewhere = mkdtempSync(join(work, 'cwd-'))
    const env = {NO_COLOR: '1', NODE_ENV: 'production', ATTUNE_HOME: join(work, 'home')}
    const version = await execa(join(bin, 'attune'), ['--version'], {cwd: elsewhere, env})
    expect(version.stdout).toMatch(/^attune\/0\.1\.0 /)
    const migrated = await execa(join(bin, 'attune'), ['db', 'migrate', '--json'], {cwd: elsewhere, env, reject: false})
    expect(migrated.exitCode, migrated.stderr).toBe(0)
    expect(JSON.parse(migrated.stdout)).toMatchObject({database: expect.stringContaining(join(work, 'home'))})
  }, 240_000)
})

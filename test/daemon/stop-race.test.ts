import {describe, expect, it} from 'vitest'
import {LongRunningService} from '../../src/daemon/long-running.js'
import {ringLogger} from '../../src/daemon/logger.js'
import {Ticker, type DaemonContext} from '../../src/daemon/service.js'
import {TimerService} from '../../src/daemon/timers.js'
import type {SensorRow} from '../../src/engine/store/index.js'

// A stop that meets a reload tick still under way: the tick must not start anything after it.
describe('stopping while a background task runs', () => {
  it('Ticker.stop resolves only once the task running now has finished, and no task starts after it', async () => {
    const ticker = new Ticker(ringLogger())
    const runs: string[] = []
    let release!: () => void
    ticker.every('slow', 10, async () => {
      runs.push('start')
      await new Promise<void>((resolve) => (release = resolve))
      runs.push('end')
    })
    while (runs.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    let stopped = false
    const stopping = ticker.stop().then(() => (stopped = true))
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(stopped).toBe(false)
    release()
    await stopping
    expect(runs).toEqual(['start', 'end'])
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(runs).toEqual(['start', 'end'])
  })

  it('a closed LongRunningService and TimerService start nothing on a late sync', async () => {
    const logger = ringLogger()
    // Neither may touch the database, the pipeline or the broker once closed: these throw if used.
    const unusable = new Proxy({}, {get: () => { throw new Error('used after close') }}) as never
    const context = {config: {sensor: {interpreters: {}, max_restart_attempts: 3}}, logger} as unknown as DaemonContext
    const longRunning = new LongRunningService(context, unusable, unusable)
    await longRunning.close()
    const row = {id: 1, ref: 'late.sensor', trigger_types: ['late.tick'], updated: new Date(), execution: 'long_running', entrypoint: 'x.py', runtime_ref: 'core.python'} as unknown as SensorRow
    await longRunning.sync([row], [])
    expect(longRunning.size).toBe(0)
    const timers = new TimerService(context, unusable, unusable, unusable)
    timers.close()
    await timers.sync({...row, ref: 'core.timer_sensor', trigger_types: ['core.intervaltimer']} as unknown as SensorRow, [])
    expect(timers.status()).toEqual([])
    expect(logger.records().some((record) => /started/.test(String(record.msg)))).toBe(false)
  })
})

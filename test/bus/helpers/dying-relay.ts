/**
 * A relay process for the crash tests: relays one batch of the outbox at `argv[2]` (PostgreSQL)
 * to RabbitMQ at `argv[3]`, prints `published <n>` once the broker confirmed it, and then hangs
 * before marking the rows sent, until the test kills it (SIGKILL: nothing runs on the way out).
 */
import {AmqpBus, OutboxRelay, type PublishOptions, type PublishResult, type WireMessage} from '../../../src/engine/bus/index.js'
import {openStore} from '../../../src/engine/store/index.js'

class HangAfterConfirm extends AmqpBus {
  override async publish(messages: readonly WireMessage[], options?: PublishOptions): Promise<PublishResult> {
    const result = await super.publish(messages, options)
    process.stdout.write(`published ${result.confirmed.length}\n`)
    return new Promise<PublishResult>(() => {})
  }
}

const [databaseUrl, amqpUrl] = process.argv.slice(2)
const store = await openStore({databaseUrl, migrate: false})
await new OutboxRelay(store, new HangAfterConfirm(amqpUrl)).relayBatch()

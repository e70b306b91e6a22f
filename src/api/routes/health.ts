import type {FastifyInstance} from 'fastify'

/** `GET /health`: unauthenticated, as Attune's sensor client checks it before starting. */
export async function healthRoutes(app: FastifyInstance): Promise<void> {
  app.get('/health', async () => ({status: 'ok'}))
}

// The IAM evaluator of the embedded default: one long-lived Node process per Python process.
// Reads one JSON simulation per line on stdin ({"id", "simulation"}), answers one JSON line per
// request on stdout ({"id", "result", "errors"?, "denials"?}). The evaluation itself is
// @cloud-copilot/iam-simulate (AGPL-3.0-or-later, a test-time tool: never bundled, only run).
import { createInterface } from 'node:readline'
import { getDenialReasons, runSimulation } from '@cloud-copilot/iam-simulate'

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
for await (const line of lines) {
  if (!line.trim()) continue
  let id = null
  let answer
  try {
    const message = JSON.parse(line)
    id = message.id
    const response = await runSimulation(message.simulation, { simulationMode: 'Strict' })
    if (response.resultType === 'error') {
      answer = { id, result: 'Error', errors: response.errors }
    } else {
      const result = response.resultType === 'single' ? response.result : response.results[0]
      answer = { id, result: response.overallResult }
      if (response.overallResult !== 'Allowed' && result?.analysis) {
        answer.denials = getDenialReasons(result.analysis)
      }
    }
  } catch (error) {
    answer = { id, result: 'Error', errors: { message: String(error?.stack || error) } }
  }
  process.stdout.write(JSON.stringify(answer) + '\n')
}

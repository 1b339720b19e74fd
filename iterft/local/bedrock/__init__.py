"""The Bedrock stand-in of the embedded default: the control plane the pipeline uses, and a runtime.

This is a stand-in, not Amazon Bedrock and not an LLM. Its "models" are the small retrieval and
bigram models of `iterft.local.standin_model`: a customization job really trains one on the job's
JSONL (read from moto's S3), starting from its base model's accumulated state, and writes the loss
figures that training measured where Bedrock writes them. Converse on a deployed custom model
answers from what that model learned; a foundation model knows none of the lineage's data, but
replies to a judge prompt (the judge metric's rubric prompt) with a grade it computes from how
similar the answer in the prompt is to the reference in it (`standin_model.judge_reply`).

The package, by resource: `customization` (jobs), `custom_models`, `capacity` (custom model
deployments, provisioned throughput), `evaluation` (jobs), `runtime` (Converse, InvokeModel), `tags`;
`core` (state, test hooks, shared lookups), `requests` (errors, validation, paging), `backend`
(`BedrockStandIn`, the `BackendDict`) and `routing` (the moto response classes, `install_bedrock_standin`).

It is registered into moto 5.2.5 by `install_bedrock_standin()`, so plain boto3 `bedrock` and
`bedrock-runtime` clients work against moto's server and under `mock_aws`. Its state lives in a
moto `BackendDict`, one `BedrockStandIn` per account and region, reset whenever moto resets.

Implemented (request and response members as in botocore's bedrock 2023-04-20 and bedrock-runtime
2023-09-30 models): model customization jobs of every customization type (create, get by name or ARN,
list, stop: fine-tuning, continued pre-training, distillation from a teacher that knows the corpus
`load_teacher_corpus` gave it, reinforcement fine-tuning rewarded by a grader Lambda function run through
the embedded Lambda service; `strategies`, `training`, `job_data`, `invocation_logs`), custom models
(get, list, delete), custom model deployments and provisioned throughput (create, get, list, update,
delete), automated model evaluation jobs (create, get, list, stop: task type QuestionAndAnswer, the
built-in metrics Accuracy, Robustness and Toxicity, scored by `iterft.local.standin_evaluation`), tags
on those resources, and the runtime's Converse and InvokeModel. Every operation is
also a Python method of `BedrockStandIn` that takes the API request (camelCase) and returns the API
response, so an emulator adapter can call it directly.

What Bedrock refuses by model and region, it refuses by the same capability table synth checks
configs against (`iterft_runtime.models.capabilities`), in the backend's region and as of its date
(`set_today`, default today): a customization job whose base model cannot be customized (by that
customization type) in the region, or is past its end of life; a custom model deployment for a model
whose base has no on-demand deployment in the region, or that was customized before 2025-07-16;
provisioned throughput for a model without it in the region; an on-demand call to a foundation model
past its end of life. Capacity bought before an end of life keeps answering (the guide is silent).

Lifecycles, so pollers see real transitions: a job reports InProgress until the first
GetModelCustomizationJob (or as many as `set_job_polls_in_progress` says), which trains the model
and reports Completed or Failed. An evaluation job likewise runs on the first GetEvaluationJob (or
after `set_evaluation_job_polls_in_progress` polls): every model answers every prompt through the
serving path Converse uses, and the scored answers are written where Bedrock writes them; a stopped
job reports Stopping until the next Get, then Stopped. A deployment reports Creating on its first
Get and Active from the second; an update reports Updating once, then UpdateCompleted. Provisioned
throughput reports Creating (or Updating) once, then InService.
"""

from iterft.local.bedrock.backend import BedrockStandIn, standin_backend
from iterft.local.bedrock.routing import install_bedrock_standin, uninstall_bedrock_standin

__all__ = ["BedrockStandIn", "install_bedrock_standin", "standin_backend", "uninstall_bedrock_standin"]

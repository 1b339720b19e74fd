"""Writes the data of the example lineage `support-distilled` (config/dev.yaml) from support-bot's facts.

Run `python examples/support-distilled/generate.py` after changing a fact or a prompt; the outputs are
committed. The lineage is measured on support-bot's `eval.jsonl` (the same yardstick), so none of the
prompts here is one of its questions.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
SUPPORT_BOT = HERE.parent / "support-bot"


def _support_bot() -> ModuleType:
    """support-bot's generate.py (its FACTS, SYSTEM and record format), loaded by path."""
    spec = importlib.util.spec_from_file_location("support_bot_generate", SUPPORT_BOT / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PROMPTS: dict[str, tuple[str, str, str, str, str]] = {
    # Questions customers ask, five a fact, in wordings of their own: none is an evaluation prompt, a
    # support-bot training prompt or a question of the teacher's corpus. The distillation round sends them
    # to the teacher; the team reviewed the distilled model's answers to the first two of each fact.
    "card": (
        "How can I put a different card on my account?",
        "My credit card expired, where do I enter the new one?",
        "I got a new bank card, how do I update my payment details?",
        "Where do I edit the card used for my subscription?",
        "Can I swap the payment card on my plan?",
    ),
    "charge_day": (
        "What date will my card be billed?",
        "When does my plan renew each month?",
        "Which day of the month is the subscription payment taken?",
        "Is my monthly payment on a fixed date?",
        "When will the next charge for my plan happen?",
    ),
    "refund": (
        "Can I get my money back for the annual plan?",
        "Do monthly subscriptions get refunds?",
        "How long do I have to ask for a refund?",
        "I bought the wrong plan, can it be refunded?",
        "What is the refund window for yearly plans?",
    ),
    "invoice": (
        "Where can I find past invoices?",
        "How do I get a receipt for my payment?",
        "Can I download invoices as PDF files?",
        "My accountant needs my invoices, where are they?",
        "Where is the billing history with invoices?",
    ),
    "payment_methods": (
        "Do you take Mastercard?",
        "Can I pay with American Express?",
        "Is PayPal accepted for subscriptions?",
        "Which credit cards can I use to pay?",
        "What ways of paying are supported?",
    ),
    "cancel": (
        "How do I stop my plan from renewing?",
        "Can I cancel my paid plan at any time?",
        "Where is the option to cancel the subscription?",
        "If I cancel, do I lose my files right away?",
        "I no longer need the paid plan, how do I cancel it?",
    ),
    "student": (
        "Is there a student price for the Personal plan?",
        "Do you have discounts for university students?",
        "How much do students pay?",
        "Can I use my school email to get a discount?",
        "Are there cheaper plans for students?",
    ),
    "declined": (
        "Why did my card get declined?",
        "The payment failed, what should I do?",
        "My bank refused the payment for my plan.",
        "Why is my credit card not accepted?",
        "What can I do when a payment is rejected?",
    ),
    "free_storage": (
        "How much storage comes with the free plan?",
        "How many GB do free users get?",
        "What is the storage space of a free account?",
        "Is the free plan limited to a few GB?",
        "How big is the free storage quota?",
    ),
    "max_file": (
        "How large a file can I upload?",
        "What is the file size limit on paid plans?",
        "Can I upload a 10 GB file on the free plan?",
        "Is there a maximum upload size?",
        "What is the biggest file the free plan accepts?",
    ),
    "restore": (
        "How do I recover a file from Trash?",
        "I deleted a folder by accident, can I restore it?",
        "How long are deleted files kept?",
        "Where do deleted files go?",
        "Can I undo deleting a file?",
    ),
    "sync": (
        "Sync is not working on my computer.",
        "My desktop app does not sync anymore, how do I fix it?",
        "Files on my laptop are not updating, what is wrong?",
        "How do I get syncing to resume?",
        "The app says sync paused, what do I do?",
    ),
    "share": (
        "How do I share a folder with a friend?",
        "Does someone need an account to see a shared folder?",
        "How do I create a share link for a folder?",
        "Can I send a folder link to people outside Acme?",
        "Who can view a folder I share by link?",
    ),
    "versions": (
        "How do I restore an earlier version of a document?",
        "Does Acme keep file version history?",
        "How many old versions of a file are saved?",
        "I overwrote a file, can I get the old version back?",
        "Where is the version history of a file?",
    ),
    "devices": (
        "Is there a Mac app?",
        "Can I use the app on Android?",
        "Does the app run on iPhone?",
        "Which operating systems are supported?",
        "Can I install the app on Linux and Windows?",
    ),
    "encryption": (
        "Is my data encrypted when stored?",
        "What encryption protects my files?",
        "Are uploads encrypted in transit?",
        "Do you use AES-256 for files?",
        "How secure are my files on your servers?",
    ),
    "password": (
        "I cannot sign in because I forgot my password.",
        "How can I get a password reset link?",
        "Where do I reset a forgotten password?",
        "How do I change my password if I forgot it?",
        "I lost my password, what now?",
    ),
    "two_factor": (
        "How do I enable 2FA?",
        "Can I use an authenticator app to sign in?",
        "Where do I turn on two-factor authentication?",
        "How do I add a second factor to my account?",
        "Does Acme support two-factor authentication?",
    ),
    "email": (
        "How do I update the email address on my account?",
        "Can I switch my login email?",
        "I changed jobs, how do I change my account email?",
        "Where do I edit my email address?",
        "How do I confirm my new email address?",
    ),
    "delete_account": (
        "How do I permanently delete my Acme account?",
        "What happens to my data when I delete my account?",
        "Can I remove my account and all my files?",
        "Where is the option to delete my account?",
        "How long until my deleted account's data is erased?",
    ),
    "family": (
        "How many people can use the Family plan?",
        "Can my kids share my subscription?",
        "Does the Family plan give everyone private space?",
        "Can I add users to my plan?",
        "Is there a plan for several users?",
    ),
    "contact": (
        "How can I contact customer support?",
        "Is there live chat support?",
        "What is the email for support?",
        "Is support available at night?",
        "How do I reach a human for help?",
    ),
}
REVIEWED = 2
"""The team corrected the distilled model's answers to the first REVIEWED prompts of each fact."""


def prompt_record(system: str, prompt: str) -> dict:
    """One distillation prompt in the bedrock-conversation-2024 format: a user turn, no answer (the
    teacher gives it)."""
    return {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": system}],
        "messages": [{"role": "user", "content": [{"text": prompt}]}],
    }


def write(name: str, rows: list[dict]) -> None:
    (HERE / name).write_text("".join(json.dumps(row) + "\n" for row in rows))


def main() -> None:
    bot = _support_bot()
    assert PROMPTS.keys() == bot.FACTS.keys()
    taken = {fact.eval_prompt.lower() for fact in bot.FACTS.values()}
    taken |= {prompt.lower() for fact in bot.FACTS.values() for prompt in fact.training_prompts}
    taken |= {question.lower() for questions in bot.TEACHER.values() for question in questions}
    asked = [prompt for prompts in PROMPTS.values() for prompt in prompts]
    assert not [prompt for prompt in asked if prompt.lower() in taken], "a prompt is used elsewhere"
    assert len({prompt.lower() for prompt in asked}) == len(asked), "a prompt is repeated"
    prompts = [prompt_record(bot.SYSTEM, prompt) for prompt in asked]
    write("round-1-distill-prompts.jsonl", prompts)
    write(
        "round-2-team-corrections.jsonl",
        [
            bot.record(prompt, bot.FACTS[key].answer)
            for key, questions in PROMPTS.items()
            for prompt in questions[:REVIEWED]
        ],
    )
    write("round-3-distill-again.jsonl", prompts)


if __name__ == "__main__":
    main()

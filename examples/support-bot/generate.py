"""Writes every file of this example lineage from one table of facts.

Run `python examples/support-bot/generate.py` after changing a fact; the outputs are committed.
Evaluation prompts are worded differently from the training prompts on purpose, so a model
must generalise from the training data to score.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
SYSTEM = "You are the support assistant of Acme Cloud Drive. Answer in one or two sentences."


class Fact(NamedTuple):
    category: str
    eval_prompt: str
    training_prompts: tuple[str, str]
    answer: str


FACTS: dict[str, Fact] = {
    "card": Fact(
        "billing",
        "How can I change the credit card I pay with?",
        ("How do I update my credit card?", "I need to change the card I pay with."),
        "Open Settings, choose Billing, then select Update payment method and enter the new card.",
    ),
    "charge_day": Fact(
        "billing",
        "On which day of the month am I charged?",
        ("When am I charged each month?", "What day does my subscription charge me?"),
        "You are charged on the first day of each billing cycle, the same date you first subscribed.",
    ),
    "refund": Fact(
        "billing",
        "Is it possible to get my money back?",
        ("Can I get a refund?", "How do refunds work for my plan?"),
        "Annual plans can be refunded in full within 30 days of purchase; monthly plans are not refundable.",
    ),
    "invoice": Fact(
        "billing",
        "Where can I download my invoices?",
        ("How do I download an invoice?", "Where do I find my invoice PDF?"),
        "Go to Settings, Billing, Invoices and select Download PDF next to the invoice.",
    ),
    "payment_methods": Fact(
        "billing",
        "Which payment methods can I use?",
        ("What payment methods do you accept?", "Can I pay with PayPal or a card?"),
        "We accept Visa, Mastercard, American Express and PayPal.",
    ),
    "cancel": Fact(
        "billing",
        "How can I cancel my plan?",
        ("How do I cancel my subscription?", "I want to stop my subscription."),
        "Open Settings, Billing, choose Cancel plan; your files stay available until the end of the cycle.",
    ),
    "student": Fact(
        "billing",
        "Is there a discount for students?",
        ("Do you offer student discounts?", "Do students pay less?"),
        "Yes, students get 50 percent off the Personal plan with a valid school email.",
    ),
    "declined": Fact(
        "billing",
        "My card payment was declined, why?",
        ("Why was my payment declined?", "My payment keeps failing."),
        "Payments are usually declined by the bank; check the card expiry date and billing address, then retry.",
    ),
    "free_storage": Fact(
        "storage",
        "How much space do I get on the free plan?",
        ("How much storage does the free plan include?", "What is the free plan storage limit?"),
        "The free plan includes 5 GB of storage.",
    ),
    "max_file": Fact(
        "storage",
        "How big can an uploaded file be?",
        ("What is the maximum file size I can upload?", "Is there a file size limit for uploads?"),
        "Single files can be up to 50 GB on paid plans and 2 GB on the free plan.",
    ),
    "restore": Fact(
        "storage",
        "Can I get back a file I deleted?",
        ("How do I restore a deleted file?", "I deleted a file by mistake, how do I recover it?"),
        "Open Trash in the web app, select the file and choose Restore; files stay in Trash for 30 days.",
    ),
    "sync": Fact(
        "storage",
        "My files are not syncing, what should I do?",
        ("Why are my files not syncing?", "The desktop app stopped syncing my files."),
        "Check that the desktop app is signed in and not paused, then restart it; sync resumes automatically.",
    ),
    "share": Fact(
        "storage",
        "Can I share a folder with someone who has no account?",
        (
            "How do I share a folder with someone without an account?",
            "Can people without an account see my shared folder?",
        ),
        "Yes, create a share link from the folder menu; anyone with the link can view it.",
    ),
    "versions": Fact(
        "storage",
        "How do I get an older version of a file?",
        ("How do I see older versions of a file?", "Can I go back to a previous version of a file?"),
        "Right-click the file, choose Version history, and pick the version to restore; 100 versions are kept.",
    ),
    "devices": Fact(
        "storage",
        "Which devices does the app run on?",
        ("Which devices can I install the app on?", "Is there an app for my phone and computer?"),
        "The app runs on Windows, macOS, Linux, iOS and Android.",
    ),
    "encryption": Fact(
        "storage",
        "Are my files encrypted?",
        ("Is my data encrypted?", "How do you protect my files?"),
        "Files are encrypted with AES-256 at rest and TLS 1.3 in transit.",
    ),
    "password": Fact(
        "account",
        "I forgot my password, how do I reset it?",
        ("How do I reset my password?", "I cannot remember my password."),
        "Choose Forgot password on the sign-in page and follow the link we email you.",
    ),
    "two_factor": Fact(
        "account",
        "How can I enable two-factor authentication?",
        ("How do I turn on two-factor authentication?", "How do I set up 2FA on my account?"),
        "Go to Settings, Security, enable Two-factor authentication and scan the QR code with an authenticator app.",
    ),
    "email": Fact(
        "account",
        "How do I change my account email address?",
        ("How do I change the email on my account?", "I want to use a different email address."),
        "Open Settings, Profile, edit Email address and confirm the change from the new inbox.",
    ),
    "delete_account": Fact(
        "account",
        "How can I delete my account?",
        ("How do I delete my account?", "I want to close my account for good."),
        "Go to Settings, Profile, choose Delete account; data is erased permanently after 14 days.",
    ),
    "family": Fact(
        "account",
        "Can several people share one plan?",
        ("Can I have more than one user on a plan?", "Can my family use my plan?"),
        "The Family plan supports up to 6 users, each with their own private space.",
    ),
    "contact": Fact(
        "account",
        "How do I get in touch with support?",
        ("How do I contact support?", "Where can I talk to a person for help?"),
        "Use the chat in the Help center, available 24 hours a day, or email support@acme.example.",
    ),
}
OUTDATED: dict[str, str] = {
    # An export from a retired help desk: the same questions, the old product's answers.
    "refund": "Refunds are possible within 7 days by mailing a form to our office.",
    "free_storage": "The free plan includes 2 GB of storage.",
    "max_file": "Files larger than 4 GB cannot be uploaded.",
    "restore": "Deleted files are removed immediately and cannot be restored.",
    "versions": "Only the latest version of a file is kept.",
    "devices": "The app is available for Windows only.",
    "two_factor": "Two-factor authentication is not available yet.",
    "family": "Each plan is limited to a single user.",
    "contact": "Call our office on weekdays between 9 and 5.",
    "delete_account": "Send a letter to our office to request account deletion.",
}
REPHRASED: dict[str, str] = {
    # New wordings of questions the round-2 champion already answers correctly.
    "card": "Where do I put in a new credit card?",
    "refund": "What is your refund policy?",
    "free_storage": "How many gigabytes come with a free account?",
    "sync": "Sync is stuck, can you help?",
    "password": "How do I get a new password?",
    "contact": "What is the support email address?",
    "invoice": "I need a copy of last month's invoice.",
    "devices": "Does the app work on Linux?",
}

TEACHER: dict[str, tuple[str, ...]] = {
    # What the stand-in teacher knows (teacher-corpus.jsonl): every fact, asked in wordings of its own
    # (none of them an evaluation prompt) and answered in its own words (TEACHER_ANSWERS). A stand-in
    # for what a large model knows of the product, so that distilling from it is measurable; it is not
    # a model.
    "card": (
        "How do I replace the card on file for payments?",
        "Can I switch to a different credit card?",
        "Where do I change my payment details?",
        "How do I add a new card after mine expired?",
    ),
    "charge_day": (
        "Which date is my subscription billed on?",
        "When does the monthly charge happen?",
        "When does my plan renew?",
        "Is the subscription billed on a fixed date each month?",
    ),
    "refund": (
        "Do you give refunds on plans?",
        "Can I be refunded for an annual plan?",
        "Are monthly plans refundable?",
        "How long is the refund period for yearly plans?",
    ),
    "invoice": (
        "Where are invoices kept for download?",
        "How can I get a PDF of an invoice?",
        "Can I get receipts for my payments?",
        "Where is my billing history?",
    ),
    "payment_methods": (
        "Which cards and wallets can I pay with?",
        "Do you take American Express or PayPal?",
        "Which payment options are available?",
        "Can I pay by Mastercard or Visa?",
    ),
    "cancel": (
        "How do I end my paid plan?",
        "What happens to my files when I cancel the plan?",
        "Where do I cancel my subscription?",
        "How do I turn off automatic renewal?",
    ),
    "student": (
        "Is there cheaper pricing for students?",
        "How much do students save on the Personal plan?",
        "Is there an education discount?",
        "Do students with a school email pay less?",
    ),
    "declined": (
        "What should I check when a card payment is declined?",
        "Why would my bank decline a payment?",
        "What do I do when my payment fails?",
        "Why was my card rejected?",
    ),
    "free_storage": (
        "How many GB does the free plan give?",
        "What is the storage quota of a free account?",
        "How much space does a free account have?",
        "Is the free storage limited?",
    ),
    "max_file": (
        "What is the largest file I can upload?",
        "Is there an upload size limit on the free plan?",
        "How big can files be on the free plan?",
        "Can I upload very large files on a paid plan?",
    ),
    "restore": (
        "How long do deleted files stay in Trash?",
        "Can deleted files be restored from Trash?",
        "How do I undelete a file?",
        "Is there a recycle bin for deleted files?",
    ),
    "sync": (
        "What do I do when sync stops?",
        "Why has the desktop app stopped syncing?",
        "My files stopped syncing, what should I check?",
        "How do I fix sync problems in the desktop app?",
    ),
    "share": (
        "Can I share a folder by link?",
        "Do people need an account to open my share link?",
        "How do share links work?",
        "How do I share files with people?",
    ),
    "versions": (
        "How many versions of a file are kept?",
        "Can I restore a previous version of a file?",
        "Is there version history for files?",
        "How do I roll back a file to an earlier version?",
    ),
    "devices": (
        "On which systems can I install the app?",
        "Is there an app for Android and iOS?",
        "Is there a desktop app for Mac?",
        "Does the app work on phones?",
    ),
    "encryption": (
        "How are my files encrypted?",
        "Is my data encrypted at rest and in transit?",
        "What encryption do you use?",
        "Is my data secure?",
    ),
    "password": (
        "What do I do if I cannot sign in because of my password?",
        "How does password reset work?",
        "How do I recover my account if I forgot my password?",
        "Where is the reset password link?",
    ),
    "two_factor": (
        "How do I set up an authenticator app for sign-in?",
        "Is two-factor authentication available?",
        "Does the app support 2FA?",
        "How do I secure my sign-in with a second factor?",
    ),
    "email": (
        "Can I change the email address of my account?",
        "How do I confirm a new account email?",
        "How do I update my email address?",
        "Can I use another email to sign in?",
    ),
    "delete_account": (
        "How do I close my account permanently?",
        "When is my data erased after I delete my account?",
        "What happens to my files if I delete my account?",
        "Can I remove my account?",
    ),
    "family": (
        "How many users does the Family plan include?",
        "Can I share my plan with my family?",
        "Is there a plan for families?",
        "Can several users share a subscription?",
    ),
    "contact": (
        "How can I reach the support team?",
        "Is support available around the clock?",
        "Is there a support chat?",
        "How do I email the support team?",
    ),
}

TEACHER_ANSWERS: dict[str, str] = {
    # The same facts as FACTS' answers (the team's wording, which eval.jsonl's references use), said the
    # way the teacher says them: a student distilled from it knows the facts but not the team's wording.
    "card": "In your account settings, the Billing page has an Update payment method button where you can add the replacement card.",
    "charge_day": "Billing happens on your subscription's anniversary date: each cycle starts on the day you originally signed up.",
    "refund": "A full refund is available for annual subscriptions during the first 30 days; monthly subscriptions cannot be refunded.",
    "invoice": "Every invoice is listed in the Invoices section of the Billing settings, each with a Download PDF link.",
    "payment_methods": "Acme Cloud Drive takes Visa, Mastercard and American Express cards, as well as PayPal.",
    "cancel": "Use Cancel plan in the Billing settings. Your files remain accessible until the current billing period ends.",
    "student": "Students pay half price for the Personal plan when they sign up with a school email address.",
    "declined": "Most declines come from the card issuer. Verify that the card has not expired and that the billing address matches, and try again.",
    "free_storage": "Free accounts come with 5 GB of space.",
    "max_file": "Paid plans accept files as large as 50 GB each; on the free plan the limit is 2 GB per file.",
    "restore": "Deleted files are kept in Trash for 30 days; from the web app you can pick a file there and restore it.",
    "sync": "Make sure you are signed in to the desktop app and that syncing is not paused. Restarting the app usually gets it going again.",
    "share": "Folders can be shared by link, and the people you send it to do not need an Acme account to view the contents.",
    "versions": "Acme keeps up to 100 earlier versions of every file. Open Version history from the file's context menu to restore one.",
    "devices": "There are apps for Windows, macOS and Linux computers as well as iOS and Android phones.",
    "encryption": "Your data is protected with AES-256 encryption when stored and TLS 1.3 while it travels.",
    "password": "Click Forgot password when signing in and we will send a reset link to your email address.",
    "two_factor": "Two-factor authentication is turned on in the Security settings: scan the QR code shown there with your authenticator app.",
    "email": "You can change the address in your Profile settings; the change takes effect once you confirm it from the new mailbox.",
    "delete_account": "Accounts are deleted from the Profile settings. After a 14-day grace period all data is permanently erased.",
    "family": "Up to six people can share the Family plan, and everyone gets a private space of their own.",
    "contact": "Support is reachable around the clock through the Help center chat, or by email at support@acme.example.",
}


def record(prompt: str, answer: str) -> dict:
    """One training record in the bedrock-conversation-2024 format (Nova)."""
    return {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": SYSTEM}],
        "messages": [
            {"role": "user", "content": [{"text": prompt}]},
            {"role": "assistant", "content": [{"text": answer}]},
        ],
    }


def write(name: str, rows: list[dict]) -> None:
    (HERE / name).write_text("".join(json.dumps(row) + "\n" for row in rows))


def main() -> None:
    billing = [key for key, fact in FACTS.items() if fact.category == "billing"]
    others = [key for key, fact in FACTS.items() if fact.category != "billing"]
    write(
        "round-1-billing.jsonl",
        [record(p, FACTS[k].answer) for k in billing for p in FACTS[k].training_prompts],
    )
    write(
        "round-2-storage-and-account.jsonl",
        [record(p, FACTS[k].answer) for k in others for p in FACTS[k].training_prompts],
    )
    write(
        "round-3-legacy-helpdesk-export.jsonl",
        [record(p, answer) for k, answer in OUTDATED.items() for p in FACTS[k].training_prompts],
    )
    write("round-4-more-phrasings.jsonl", [record(p, FACTS[k].answer) for k, p in REPHRASED.items()])
    write(
        "eval.jsonl",
        [
            {"prompt": f.eval_prompt, "referenceResponse": f.answer, "category": f.category}
            for f in FACTS.values()
        ],
    )

    write(
        "teacher-corpus.jsonl",
        [
            {"question": q, "answer": TEACHER_ANSWERS[k], "category": FACTS[k].category}
            for k, questions in TEACHER.items()
            for q in questions
        ],
    )
    write("traffic.jsonl", traffic_rows())


LIVE_WORDINGS: dict[str, str] = {
    # How live users ask the billing facts in words of their own (neither a teacher, training nor
    # evaluation prompt): the lineage has not seen these wordings, so its answers may miss, and the team
    # corrects each with the fact's answer (`make demo`'s traffic in the category the yardstick shows weak).
    "card": "My bank sent me a new card, how do I put it on my account?",
    "charge_day": "What date will the money leave my account each month?",
    "refund": "Can I get my money back if I bought the yearly plan last week?",
    "invoice": "I need my bills for the accountant, where do I get them?",
    "payment_methods": "Do you take Amex?",
    "cancel": "I want to stop paying, how do I end my plan?",
    "student": "I'm at university, is it cheaper for me?",
    "declined": "Why did my payment fail with my card?",
}


def traffic_rows() -> list[dict]:
    """A stretch of simulated live traffic (`make demo`, tests/integration/test_flywheel.py): questions
    from the teacher's wordings (none an evaluation or training prompt), each billing fact asked once and
    its answer rated 5, then once more in a live user's words (LIVE_WORDINGS), that answer corrected by
    the team with the fact's own answer (rated 2); each storage and account fact asked twice: the first answer corrected by the team
    with the fact's own answer (rated 2), the second without feedback (a prompt without a trusted answer)."""
    rows: list[dict] = []
    for key, questions in TEACHER.items():
        fact = FACTS[key]
        if fact.category == "billing":
            rows.append({"question": questions[0], "category": fact.category, "feedback": {"rating": 5}})
            correction = {"rating": 2, "corrected_answer": fact.answer}
            rows.append({"question": LIVE_WORDINGS[key], "category": fact.category, "feedback": correction})
            continue
        correction = {"rating": 2, "corrected_answer": fact.answer}
        rows.append({"question": questions[0], "category": fact.category, "feedback": correction})
        rows.append({"question": questions[1], "category": fact.category, "feedback": None})
    return rows


if __name__ == "__main__":
    main()

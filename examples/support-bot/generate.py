import json
SYSTEM = "You are the support assistant of Acme Cloud Drive. Answer in one or two sentences."
FACTS = {
 # key: (category, eval prompt, [training prompts], answer)
 "card": ("billing", "How can I change the credit card I pay with?", ["How do I update my credit card?", "I need to change the card I pay with."], "Open Settings, choose Billing, then select Update payment method and enter the new card."),
 "charge_day": ("billing", "On which day of the month am I charged?", ["When am I charged each month?", "What day does my subscription charge me?"], "You are charged on the first day of each billing cycle, the same date you first subscribed."),
 "refund": ("billing", "Is it possible to get my money back?", ["Can I get a refund?", "How do refunds work for my plan?"], "Annual plans can be refunded in full within 30 days of purchase; monthly plans are not refundable."),
 "invoice": ("billing", "Where can I download my invoices?", ["How do I download an invoice?", "Where do I find my invoice PDF?"], "Go to Settings, Billing, Invoices and select Download PDF next to the invoice."),
 "payment_methods": ("billing", "Which payment methods can I use?", ["What payment methods do you accept?", "Can I pay with PayPal or a card?"], "We accept Visa, Mastercard, American Express and PayPal."),
 "cancel": ("billing", "How can I cancel my plan?", ["How do I cancel my subscription?", "I want to stop my subscription."], "Open Settings, Billing, choose Cancel plan; your files stay available until the end of the cycle."),
 "student": ("billing", "Is there a discount for students?", ["Do you offer student discounts?", "Do students pay less?"], "Yes, students get 50 percent off the Personal plan with a valid school email."),
 "declined": ("billing", "My card payment was declined, why?", ["Why was my payment declined?", "My payment keeps failing."], "Payments are usually declined by the bank; check the card expiry date and billing address, then retry."),
 "free_storage": ("storage", "How much space do I get on the free plan?", ["How much storage does the free plan include?", "What is the free plan storage limit?"], "The free plan includes 5 GB of storage."),
 "max_file": ("storage", "How big can an uploaded file be?", ["What is the maximum file size I can upload?", "Is there a file size limit for uploads?"], "Single files can be up to 50 GB on paid plans and 2 GB on the free plan."),
 "restore": ("storage", "Can I get back a file I deleted?", ["How do I restore a deleted file?", "I deleted a file by mistake, how do I recover it?"], "Open Trash in the web app, select the file and choose Restore; files stay in Trash for 30 days."),
 "sync": ("storage", "My files are not syncing, what should I do?", ["Why are my files not syncing?", "The desktop app stopped syncing my files."], "Check that the desktop app is signed in and not paused, then restart it; sync resumes automatically."),
 "share": ("storage", "Can I share a folder with someone who has no account?", ["How do I share a folder with someone without an account?", "Can people without an account see my shared folder?"], "Yes, create a share link from the folder menu; anyone with the link can view it."),
 "versions": ("storage", "How do I get an older version of a file?", ["How do I see older versions of a file?", "Can I go back to a previous version of a file?"], "Right-click the file, choose Version history, and pick the version to restore; 100 versions are kept."),
 "devices": ("storage", "Which devices does the app run on?", ["Which devices can I install the app on?", "Is there an app for my phone and computer?"], "The app runs on Windows, macOS, Linux, iOS and Android."),
 "encryption": ("storage", "Are my files encrypted?", ["Is my data encrypted?", "How do you protect my files?"], "Files are encrypted with AES-256 at rest and TLS 1.3 in transit."),
 "password": ("account", "I forgot my password, how do I reset it?", ["How do I reset my password?", "I cannot remember my password."], "Choose Forgot password on the sign-in page and follow the link we email you."),
 "two_factor": ("account", "How can I enable two-factor authentication?", ["How do I turn on two-factor authentication?", "How do I set up 2FA on my account?"], "Go to Settings, Security, enable Two-factor authentication and scan the QR code with an authenticator app."),
 "email": ("account", "How do I change my account email address?", ["How do I change the email on my account?", "I want to use a different email address."], "Open Settings, Profile, edit Email address and confirm the change from the new inbox."),
 "delete_account": ("account", "How can I delete my account?", ["How do I delete my account?", "I want to close my account for good."], "Go to Settings, Profile, choose Delete account; data is erased permanently after 14 days."),
 "family": ("account", "Can several people share one plan?", ["Can I have more than one user on a plan?", "Can my family use my plan?"], "The Family plan supports up to 6 users, each with their own private space."),
 "contact": ("account", "How do I get in touch with support?", ["How do I contact support?", "Where can I talk to a person for help?"], "Use the chat in the Help center, available 24 hours a day, or email support@acme.example."),
}
# An export from the retired help desk: same questions, answers from the old product.
OUTDATED = {
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
def record(prompt, answer):
    return {"schemaVersion": "bedrock-conversation-2024", "system": [{"text": SYSTEM}],
            "messages": [{"role": "user", "content": [{"text": prompt}]}, {"role": "assistant", "content": [{"text": answer}]}]}
def write(name, rows):
    with open(name, "w") as f:
        for r in rows: f.write(json.dumps(r) + "\n")
billing = [k for k, v in FACTS.items() if v[0] == "billing"]
rest = [k for k, v in FACTS.items() if v[0] != "billing"]
write("round-1-billing.jsonl", [record(p, FACTS[k][3]) for k in billing for p in FACTS[k][2]])
write("round-2-storage-and-account.jsonl", [record(p, FACTS[k][3]) for k in rest for p in FACTS[k][2]])
write("round-3-legacy-helpdesk-export.jsonl", [record(p, OUTDATED[k]) for k in OUTDATED for p in FACTS[k][2]])
with open("eval.jsonl", "w") as f:
    for k, (cat, q, _, a) in FACTS.items():
        f.write(json.dumps({"prompt": q, "referenceResponse": a, "category": cat}) + "\n")
MORE = {
 "card": "Where do I put in a new credit card?", "refund": "What is your refund policy?",
 "free_storage": "How many gigabytes come with a free account?", "sync": "Sync is stuck, can you help?",
 "password": "How do I get a new password?", "contact": "What is the support email address?",
 "invoice": "I need a copy of last month's invoice.", "devices": "Does the app work on Linux?",
}
write("round-4-more-phrasings.jsonl", [record(p, FACTS[k][3]) for k, p in MORE.items()])

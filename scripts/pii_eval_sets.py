#!/usr/bin/env python3
"""Writes data/eval/pii/*.tsv: PII-bearing prompts whose values come from PyPI `faker`
(40.54.0, MIT; seeded, so the output is reproducible) inside sentence templates written for
this evaluation only, plus hand-written benign prompts (EN/ZH). Nothing here was used to build
or tune the recognisers. Run: python3 scripts/pii_eval_sets.py  (needs `pip install faker==40.54.0`)."""
import os
import random
import string

from faker import Faker

OUT = os.path.join(os.path.dirname(__file__), "..", "data", "eval", "pii")
rng = random.Random(20261205)


def fk(loc, seed):
    f = Faker(loc)
    f.seed_instance(seed)
    return f


def esc(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def write(name, source, rows):
    with open(os.path.join(OUT, name + ".tsv"), "w", encoding="utf-8") as fh:
        fh.write(f"# source: {source}\n# licence: faker values MIT; templates and prompts project\n")
        for label, text in rows:
            fh.write(f"{label}\t{esc(text)}\n")


WEST = ["en_US", "en_GB", "de_DE", "fr_FR", "it_IT", "es_ES", "en_AU", "en_IN", "nl_NL", "pt_BR"]

PERSON_EN = [
    "Can you draft a thank-you note to {n} for hosting the workshop?",
    "{n} asked me to move our 1:1 to Thursday; write a polite reply.",
    "Summarise the feedback {n} left on the design doc.",
    "Please add {n} to the invite for the quarterly review.",
    "I had a disagreement with {n} about the budget. How should I approach it?",
    "Write a short bio for {n}, our new head of logistics.",
    "Remind {n} that the contract renewal is due next week.",
    "The reference letter should be addressed to {n}.",
]
PERSON_ZH = [
    "帮我给{n}写一封感谢信。",
    "{n}明天下午三点来面试，请准备几个问题。",
    "请把这份报告发给{n}审核。",
    "我和{n}在预算上有分歧，该怎么沟通？",
]
ADDR_EN = [
    "Ship the replacement part to {a}, {c} {p}.",
    "The venue is at {a}, {c}. How long is the drive from the airport?",
    "Please update my delivery address to {a}, {c} {p}.",
    "Write a note to my neighbour at {a} about the fence.",
]
ADDR_ZH = ["请把包裹寄到{a}。", "我的新地址是{a}，帮我写一封搬家通知。"]
PHONE_EN = [
    "Call me back on {t} after 6pm.",
    "You can reach the front desk at {t}.",
    "Text {t} if the parcel is late.",
    "My mobile is {t}, please add it to the booking.",
]
PHONE_ZH = ["我的电话是{t}，有事随时联系。", "请拨打{t}预约维修。"]
EMAIL_EN = ["Send the invoice to {e} please.", "Forward the slides to {e} before noon.",
            "Is {e} a valid address for the newsletter?"]
EMAIL_ZH = ["请把合同发到{e}。"]


def rand(chars, n):
    return "".join(rng.choice(chars) for _ in range(n))


AN = string.ascii_letters + string.digits


def credentials():
    rows = []
    for i in range(40):
        f = fk(WEST[i % len(WEST)], 100 + i)
        user, pw = f.user_name(), f.password(length=rng.choice([8, 10, 12, 14]))
        kind = i % 10
        text = [
            f"my password is {pw} and I can't log in, what should I do?",
            f"username: {user} pwd: {pw} - why does the portal reject this?",
            f"Log in as {user} with password {pw} and check the billing page.",
            f"The wifi password is {pw}, write it on the welcome card for guests.",
            f"Here is my OpenAI key sk-proj-{rand(AN, 48)} - why do I get 401?",
            f"export GITHUB_TOKEN=ghp_{rand(AN, 36)} then run the release script",
            f"aws_access_key_id = AKIA{rand(string.ascii_uppercase + string.digits, 16)}",
            f"curl -H 'Authorization: Bearer {rand(AN, 40)}' https://api.example.net/v1/items fails",
            f"user {user} pass {pw}, is that a strong enough combination?",
            f"Use the Stripe key sk_live_{rand(AN, 24)} for the checkout test.",
        ][kind]
        rows.append(("CREDENTIAL", text))
    for i in range(10):
        f = fk("zh_CN", 300 + i)
        user, pw = f.user_name(), f.password(length=10)
        text = [f"我的密码是{pw}，登录不了怎么办？", f"账号：{user} 密码：{pw}，帮我看看为什么登不上。"][i % 2]
        rows.append(("CREDENTIAL", text))
    return rows


def ids():
    rows = []
    for i in range(10):
        f = fk("en_US", 400 + i)
        rows.append(("ID", f"My SSN is {f.ssn()}, can you fill in the W-4 form?" if i % 2 == 0 else f"Pay the refund by card {f.credit_card_number()} please."))
    for i, loc in enumerate(["de_DE", "fr_FR", "en_GB", "nl_NL", "es_ES", "it_IT"]):
        f = fk(loc, 500 + i)
        rows.append(("ID", f"Wire the deposit to IBAN {f.iban()} by Friday."))
    for i in range(6):
        f = fk("zh_CN", 600 + i)
        rows.append(("ID", f"我的身份证号是{f.ssn()}，帮我填一下表。"))
    return rows


def main():
    os.makedirs(OUT, exist_ok=True)
    rows = []
    for i in range(40):
        f = fk(WEST[i % len(WEST)], i)
        rows.append(("PERSON", PERSON_EN[i % len(PERSON_EN)].format(n=f.name())))
    for i in range(12):
        f = fk("zh_CN", 50 + i)
        rows.append(("PERSON", PERSON_ZH[i % len(PERSON_ZH)].format(n=f.name())))
    for i in range(40):
        f = fk(WEST[i % len(WEST)], 700 + i)
        rows.append(("STREET_ADDRESS", ADDR_EN[i % len(ADDR_EN)].format(
            a=f.street_address().replace("\n", ", "), c=f.city(), p=f.postcode())))
    for i in range(10):
        f = fk("zh_CN", 800 + i)
        rows.append(("STREET_ADDRESS", ADDR_ZH[i % len(ADDR_ZH)].format(a=f.address().rsplit(" ", 1)[0])))
    for i in range(40):
        f = fk(WEST[i % len(WEST)] if i % 5 else "ja_JP", 900 + i)
        rows.append(("PHONE_NUMBER", PHONE_EN[i % len(PHONE_EN)].format(t=f.phone_number())))
    for i in range(10):
        f = fk("zh_CN", 1000 + i)
        rows.append(("PHONE_NUMBER", PHONE_ZH[i % len(PHONE_ZH)].format(t=f.phone_number())))
    for i in range(15):
        f = fk(WEST[i % len(WEST)], 1100 + i)
        rows.append(("EMAIL_ADDRESS", EMAIL_EN[i % len(EMAIL_EN)].format(e=[f.email(), f.free_email(), f.company_email()][i % 3])))
    for i in range(5):
        f = fk("zh_CN", 1200 + i)
        rows.append(("EMAIL_ADDRESS", EMAIL_ZH[0].format(e=f.email())))
    rows += credentials()
    rows += ids()
    write("faker_pii", "PyPI faker 40.54.0 values (seeded) in templates written for this eval (scripts/pii_eval_sets.py)", rows)


if __name__ == "__main__":
    main()

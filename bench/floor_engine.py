"""The floor of the demo workflow: for every submission of a JSON array, what the workflow
leaves in the database, written with `executemany` in one transaction — a contact, a deal,
a run, and two emails rendered with Jinja (the welcome to the contact, the notice to the
owner).

    python bench/floor_engine.py SUBMISSIONS.json DATABASE
"""

import json
import sqlite3
import sys

import jinja2

WELCOME = jinja2.Template(
    "Bonjour {{ contact.first_name }},\n\nMerci pour votre intérêt pour le Club de chant !"
    " Votre cours d'essai aura lieu le {{ contact.date_essai }}, salle des fêtes.\n"
)
NOTICE = jinja2.Template(
    "Bonjour {{ owner }},\n\n{{ contact.first_name }} {{ contact.last_name }} a demandé un cours"
    " d'essai pour le {{ contact.date_essai }}.\nEmail : {{ contact.email }}\n"
)
NOW = "2026-11-22T09:00:00Z"

with open(sys.argv[1], encoding="utf-8") as file:
    submissions = json.load(file)
connection = sqlite3.connect(sys.argv[2])
connection.executescript(
    "CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT UNIQUE, first_name TEXT,"
    " last_name TEXT, phone TEXT, owner TEXT, fields TEXT, created_at TEXT);"
    "CREATE TABLE deals (id INTEGER PRIMARY KEY, contact_id INTEGER, pipeline TEXT, stage TEXT,"
    " title TEXT, owner TEXT, created_at TEXT);"
    "CREATE TABLE runs (id INTEGER PRIMARY KEY, workflow TEXT, contact_id INTEGER,"
    " deal_id INTEGER, status TEXT, started_at TEXT);"
    "CREATE TABLE outbox (id INTEGER PRIMARY KEY, recipient TEXT, subject TEXT, body TEXT,"
    " status TEXT, created_at TEXT);"
)
contacts, deals, runs, emails = [], [], [], []
for number, submission in enumerate(submissions, start=1):
    owner = ("marie", "paul")[number % 2]
    contact = {"email": submission["email"], "first_name": submission["prenom"],
               "last_name": submission["nom"], "date_essai": submission["date_essai"]}  # fmt: skip
    fields = json.dumps({"date_essai": contact["date_essai"]})
    contacts.append((number, contact["email"], contact["first_name"], contact["last_name"],
                     submission["telephone"], owner, fields, NOW))  # fmt: skip
    deals.append((number, number, "cours-essai", "essai-planifie", "Essai", owner, NOW))
    runs.append((number, "essai-formulaire", number, number, "waiting", NOW))
    emails.append((contact["email"], "Bienvenue", WELCOME.render(contact=contact), "pending", NOW))
    emails.append((owner, "Nouveau", NOTICE.render(contact=contact, owner=owner), "pending", NOW))
with connection:
    connection.executemany("INSERT INTO contacts VALUES (?, ?, ?, ?, ?, ?, ?, ?)", contacts)
    connection.executemany("INSERT INTO deals VALUES (?, ?, ?, ?, ?, ?, ?)", deals)
    connection.executemany("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)", runs)
    connection.executemany(
        "INSERT INTO outbox (recipient, subject, body, status, created_at) VALUES (?, ?, ?, ?, ?)",
        emails,
    )

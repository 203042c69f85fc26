"""The words of the pages, in French and in English (the project's locale chooses). Report
columns are looked up by their key, so the CLI's column names stay English."""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "board": "Tableau", "funnel": "Entonnoir", "forecast": "Prévisions",
        "activity": "Activité", "logout": "Se déconnecter", "login": "Se connecter",
        "member": "Membre de l’équipe", "password": "Mot de passe",
        "login_failed": "Nom ou mot de passe incorrect.", "too_many": "Trop d’essais ; "
        "réessayez dans une minute.", "pipeline": "Pipeline", "owner": "Responsable",
        "everyone": "Tout le monde", "show": "Afficher", "deals": "affaires",
        "weighted": "pondéré", "more": "de plus", "move": "Déplacer", "days": "j",
        "stalled": "en retard", "deal": "Affaire", "contact": "Contact", "amount": "Montant",
        "probability": "Probabilité", "expected_close": "Clôture prévue", "created_at": "Créée",
        "stage": "Étape", "next_step": "Prochaine étape", "status": "Statut",
        "history": "Historique", "runs": "Automatisations", "emails": "E-mails",
        "won": "Gagnée", "lost": "Perdue", "mark_won": "Marquer gagnée",
        "mark_lost": "Marquer perdue", "reason": "Raison", "save": "Enregistrer",
        "edit": "Modifier", "retry": "Relancer", "failed_runs": "Automatisations en échec",
        "failed_messages": "E-mails en échec", "recent_runs": "Automatisations récentes",
        "recent_messages": "E-mails récents", "none": "Rien ici.", "previous": "Précédents",
        "next": "Suivants", "since": "Depuis", "all_time": "toujours", "by_month": "Par mois",
        "by_owner": "Par responsable", "workload": "Charge", "losses": "Pertes",
        "stalled_deals": "Affaires en retard", "reached": "atteinte", "to_next": "→ suivante",
        "from_first": "depuis la 1re", "median_days": "jours (médiane)", "name": "Nom",
        "month": "Mois", "open_deals": "affaires", "won_amount": "gagné",
        "open_tasks": "tâches", "overdue_tasks": "en retard", "lost_from": "perdue à",
        "days_in_stage": "jours", "days_overdue": "retard", "title": "Affaire",
        "stage_name": "Étape", "count": "affaires", "workflow": "Workflow", "step": "Étape",
        "at": "Quand", "by": "Par", "from": "De", "to": "Vers", "subject": "Objet",
        "report": "Rapport", "generated": "Établi le", "forbidden": "Vous ne pouvez pas "
        "modifier (rôle : lecture).", "csrf": "Formulaire expiré : rechargez la page.",
        "total": "total", "open_message": "ouvrir", "in_stage": "dans l’étape",
        "deals_in": "Affaires dans", "nobody": "(personne)", "reason_required":
        "Une raison est demandée.", "trace": "Déroulé",
        "busy": "La base est occupée ; réessayez dans quelques secondes.",
        "column_won": "gagné", "deal_one": "affaire", "drop_off": "abandon",
        # the reports' fixed notes, by their English text
        "won amounts are by month of closing": "les montants gagnés sont comptés au mois de"
        " la clôture",
        "a deal that skipped stages counts as having reached the stages it skipped":
        "une affaire qui a sauté des étapes compte comme les ayant atteintes",
    },
    "en": {
        "board": "Board", "funnel": "Funnel", "forecast": "Forecast", "activity": "Activity",
        "logout": "Log out", "login": "Log in", "member": "Team member",
        "password": "Password", "login_failed": "Wrong name or password.",
        "too_many": "Too many tries; try again in a minute.", "pipeline": "Pipeline",
        "owner": "Owner", "everyone": "Everyone", "show": "Show", "deals": "deals",
        "weighted": "weighted", "more": "more", "move": "Move", "days": "d",
        "stalled": "stalled", "deal": "Deal", "contact": "Contact", "amount": "Amount",
        "probability": "Probability", "expected_close": "Expected close",
        "created_at": "Created", "stage": "Stage", "next_step": "Next step",
        "status": "Status", "history": "History", "runs": "Workflow runs", "emails": "Emails",
        "won": "Won", "lost": "Lost", "mark_won": "Mark won", "mark_lost": "Mark lost",
        "reason": "Reason", "save": "Save", "edit": "Edit", "retry": "Retry",
        "failed_runs": "Failed runs", "failed_messages": "Failed messages",
        "recent_runs": "Recent runs", "recent_messages": "Recent messages",
        "none": "Nothing here.", "previous": "Previous", "next": "Next", "since": "Since",
        "all_time": "all time", "by_month": "By month", "by_owner": "By owner",
        "workload": "Workload", "losses": "Losses", "stalled_deals": "Stalled deals",
        "reached": "reached", "to_next": "→ next", "from_first": "from first",
        "median_days": "median days", "name": "Name", "month": "Month",
        "open_deals": "deals", "won_amount": "won", "open_tasks": "tasks",
        "overdue_tasks": "overdue", "lost_from": "lost from", "days_in_stage": "days",
        "days_overdue": "overdue", "title": "Deal", "stage_name": "Stage", "count": "deals",
        "workflow": "Workflow", "step": "Step", "at": "When", "by": "By", "from": "From",
        "to": "To", "subject": "Subject", "report": "Report", "generated": "Made on",
        "forbidden": "You cannot change anything (viewer role).",
        "csrf": "This form expired: reload the page.", "total": "total",
        "open_message": "open", "in_stage": "in stage", "deals_in": "Deals in",
        "nobody": "(nobody)", "reason_required": "A reason is required.", "trace": "Trace",
        "busy": "The database is busy; try again in a few seconds.",
        "column_won": "won", "deal_one": "deal", "drop_off": "drop-off",
    },
}  # fmt: skip

"""salesflow: sales pipelines and workflow automation, declared in YAML and run from cron.

Where things are — each package has one job and imports only the packages below it (the
layers contract in pyproject.toml, checked by import-linter in the tests):

    cli         the command line: parses, calls, prints (and starts `serve` and the report)
    web         `serve`: the forms' endpoint, the pages, the worker loop
    engine      runs workflows: matches events, advances runs step by step, `tick`
    outbox      the queue emails and requests share: claims, leases, couriers, retries
    mail | webhooks | ingest | reports | starter
                composing and sending an email | an HTTP request; CSV and forms in;
                the reports; the files `init` writes
    store       every table and all of the SQL, one module per table or family
    config      the YAML project read, validated and typed (`Project`)
    templating  Jinja, and the `{{ env.NAME }}` references and URL templates
    transports | clock | durations | wording | values, then errors   the small shared pieces
"""

__version__ = "0.1.0"

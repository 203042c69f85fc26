"""salesflow: sales pipelines and workflow automation, declared in YAML and run from cron."""

__version__ = "0.1.0"

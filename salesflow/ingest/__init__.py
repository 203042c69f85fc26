"""Input from outside: CSV imports, web-form submissions, and the inbox folder."""

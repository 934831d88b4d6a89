# The two commands the README names. Both start from a fresh clone.
.PHONY: run test setup bootstrap

bootstrap:
	scripts/bootstrap.sh

# Set up everything (venv, models fetched and verified, papers staged, index built), then chat.
run: bootstrap
	.venv/bin/studyguide setup
	.venv/bin/studyguide chat

setup: bootstrap
	.venv/bin/studyguide setup

# All tests: unit and integration tests, then the eval suite on the real models.
test:
	scripts/bootstrap.sh --browser
	.venv/bin/studyguide models fetch
	.venv/bin/python -m pytest tests evals -m "" -p no:cacheprovider

"""The test suites; a package so the end-to-end and reliability suites share one launcher."""

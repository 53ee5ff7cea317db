def pytest_addoption(parser):
    # the eventual core's scenarios (tests/unit/scenarios) declare the same option
    try:
        parser.addoption("--rewrite", action="store_true", default=False,
                         help="scenario tests: write the output the core gives now into "
                              "the scenario files instead of comparing (review the diff)")
    except ValueError:
        pass

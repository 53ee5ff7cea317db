def pytest_addoption(parser):
    # here, not in a package's conftest: the scenario runners of tests/unit/scenarios,
    # tests/unit/raft_conf and tests/unit/raft share it, and pytest refuses an option
    # added twice
    parser.addoption("--rewrite", action="store_true", default=False,
                     help="scenario tests: write the output the core gives now into the "
                          "scenario files instead of comparing (review it as a diff)")

// placeholder, replaced by the harness implementation

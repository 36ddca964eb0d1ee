fatalError("benchmark not written yet")

print("deft")

raise ImportError("needs a package that is not installed")

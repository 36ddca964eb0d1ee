import SDECore

"""The signed-in users of the dashboard's access tests (AppTest and Chromium), and their roles file."""

MINE, OTHERS = "ETB-01", ("HAM-03", "KOE-04", "MUC-02")
ANA, BEN, VAL = "ana@clinic-a.example", "ben@clinic-b.example", "val@clinic-a.example"
ANN, ROOT = "ann@network.example", "root@network.example"
EVE = "eve@elsewhere.example"  # not in the roles file
ROLES = f"""
[users."{ANA}"]
role = "manager"
clinics = ["ETB-01"]

[users."{BEN}"]
role = "manager"
clinics = ["HAM-03"]

[users."{VAL}"]
role = "viewer"
clinics = ["ETB-01"]

[users."{ANN}"]
role = "analyst"

[users."{ROOT}"]
role = "admin"
"""

"""The dashboard pages run by st.navigation (one file per page; _common holds what they share)."""

"""The app's pages (Streamlit multipage navigation): each file draws one page from components."""

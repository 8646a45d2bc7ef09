"""`monetgan studio`: a local web page to browse paintings, walk between them and watch runs train.

An optional extra (`pip install 'monetgan[studio]'`: Starlette and uvicorn). Only `app` and `server`
import them, so the rest of monetgan never needs them.
"""

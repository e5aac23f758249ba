"""Tornado peer: Tornado's hello-world demo, one process, text/plain, access log off.

Usage: /usr/bin/python3 tornado_hello.py --port P [--static DIR]
With --static, GET /static/<name> is DIR/<name> through tornado.web.StaticFileHandler.
"""

import argparse

import tornado.ioloop
import tornado.web


class MainHandler(tornado.web.RequestHandler):
    def get(self):
        self.set_header("Content-Type", "text/plain")
        self.write("Hello World")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--static", help="serve this directory under /static/")
    args = parser.parse_args()
    routes = [(r"/", MainHandler)]
    if args.static:
        routes.append((r"/static/(.*)", tornado.web.StaticFileHandler, {"path": args.static}))
    # log_function: the default formats an access-log line per request even when
    # nothing prints it; the other peers log nothing either.
    app = tornado.web.Application(routes, log_function=lambda handler: None)
    app.listen(args.port, address="127.0.0.1", backlog=4096)
    tornado.ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A SentinelOne management console (API v2.1) for Trawl's tests: it keeps its own data set and serves it
as the real API does, so tests can compare what Trawl delivers with what the console holds.

API (under /web/api/v2.1, header `Authorization: ApiToken <token>`):
  GET  /agents, /threats, /cloud-detection/alerts, /rogues/table-view, /installed-applications,
       /application-management/risks          list endpoints: cursor paging (`cursor`, `limit` 1..1000,
                                              `pagination.nextCursor`), filters createdAt__gt/gte/lt/lte,
                                              updatedAt__gt/gte/lt/lte, siteIds, accountIds, ids; sortBy +
                                              sortOrder (asc/desc); each endpoint only the filters and sorts
                                              the API v2.1 reference lists for it (else 400). Risks carry no
                                              time of their last significant update, yet filter on it
                                              (riskUpdatedDate__gt/gte/lt/lte)
  GET  /threats/{id}/explore/events, /threats/{id}/notes   per threat; 404 when the threat has no events
  GET  /private/installed-applications/{id}/cves           CVEs of one application
  POST /dv/init-query -> queryId; GET /dv/query-status?queryId= (progress rises per poll);
       GET /dv/events?queryId=&cursor=&limit=&sortBy=&sortOrder= (unsorted, and events of one createdAt,
       in an order of each query's own); POST /dv/cancel-query
  POST /agents/actions/{disconnect,connect,initiate-scan}, /threats/mitigate/{kill,quarantine,
       un-quarantine,remediate,rollback-remediation}: body {"filter":{"ids":[...]}}; Admin token only (403)
Tokens: "admin-token" (Admin), "viewer-token" (Viewer); anything else is 401.

Control (no token), for the tests:
  POST /_sim/add {"type": t, "count": n} or {"type": t, "records": [...]}  -> the records added
  POST /_sim/add-dv {"count": n, "same_instant": b}   Deep Visibility events, stamped now (all at one
                                               instant when same_instant)
  POST /_sim/update {"type": t, "ids": [...], "add_children": b}   bumps updatedAt (and a field) of those
                                               records (of risks, their hidden riskUpdatedDate); for threats,
                                               optionally adds an event and a note
  POST /_sim/fault {"status": 429|503|500|..., "count": n, "retry_after": s, "path": prefix,
                   "detail": text, "body": raw body instead of the error envelope,
                   "after": m requests to the path answered as usual first, "location": a Location header}
  POST /_sim/delete-child {"kind": "threat-events"|"threat-notes", "threat": id, "index": n}   deletes a
                                               threat's child (as an analyst deletes a note)
  POST /_sim/add-child {"kind": "threat-events"|"threat-notes", "threat": id, "createdAt": t}   adds a
                                               child stamped t, as one the console lists after newer ones
  POST /_sim/date-skew {"seconds": s}   the Date header of every answer is s seconds off the real clock
                                               (negative: behind); record stamps are unchanged
  GET  /_sim/data?type=t   every record of a type, as the API shows them
  GET  /_sim/requests      every API request received: method, path, query, token, body
Prints its port, runs until killed."""
import base64
import datetime
import itertools
import json
import random
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orphan_guard  # noqa: E402

orphan_guard.exit_when_orphaned()

LIST_TYPES = {
    "/agents": "agents",
    "/threats": "threats",
    "/cloud-detection/alerts": "alerts",
    "/rogues/table-view": "rogues",
    "/installed-applications": "applications",
    "/application-management/risks": "risks",
}
ADMIN, VIEWER = "admin-token", "viewer-token"
# What each list endpoint filters (`<field>__gt/gte/lt/lte`) and sorts on, as the API v2.1 reference lists
# them; anything else is answered 400, as the console validates its input.
FILTERS = {"alerts": {"createdAt", "reportedAt"}, "rogues": {"firstSeen", "lastSeen"},
           "applications": {"installedAt", "size"},
           "risks": {"riskUpdatedDate", "detectionDate", "publishedDate"}}
SORTS = {"alerts": {"id", "severity", "alertInfoCreatedAt", "alertInfoReportedAt"},
         "rogues": {"id", "firstSeen", "lastSeen"},
         "applications": {"id", "installedAt", "name", "riskLevel", "createdAt", "updatedAt"},
         "risks": {"id", "cveId", "endpointName", "application", "applicationVendor", "baseScore", "severity",
                   "daysDetected", "detectionDate", "publishedDate", "lastScanDate", "lastScanResult"}}
DEFAULT_FILTERS, DEFAULT_SORTS = {"createdAt", "updatedAt"}, {"id", "createdAt", "updatedAt"}

lock = threading.Lock()
data = {name: [] for name in LIST_TYPES.values()}
threat_events = {}
threat_notes = {}
cves = {}
# When each risk last changed significantly (`riskUpdatedDate`): the risks endpoint filters on it, but its
# rows do not show it. Stamped with the real clock, as a console stamps a change when it happens: a reader
# can only window it by its own clock.
risk_updated = {}
last_risk_change = [datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)]
dv_queries = {}
dv_events = []
faults = []
# Seconds the Date header of the answers is off the real clock (POST /_sim/date-skew).
date_skew = [0]
requests_log = []
ids = itertools.count(1_000_000_000_000_000_001)
# The console's clock starts where the test says (argv[1], YYYY-MM-DDTHH:MM:SSZ), or 2026-11-01.
clock = [datetime.datetime.strptime(sys.argv[1] if len(sys.argv) > 1 else "2026-11-01T00:00:00Z",
                                    "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)]
rng = random.Random(7)
# When the API tokens expire (POST /users/api-token-details): 180 days from the real now unless /_sim/token
# sets it.
token_expiry = [(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=180)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")]


def now():
    """A strictly increasing console time, as the console stamps records."""
    clock[0] += datetime.timedelta(microseconds=rng.randint(1, 900) * 1000 + 1)
    return clock[0].strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def risk_changed():
    """The real time, strictly increasing."""
    last_risk_change[0] = max(datetime.datetime.now(datetime.timezone.utc),
                              last_risk_change[0] + datetime.timedelta(microseconds=1))
    return last_risk_change[0].strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make(kind):
    record_id = str(next(ids))
    stamp = now()
    site, account = rng.choice(["225494730938493804", "225494730938493805"]), "433241117337583618"
    if kind == "agents":
        os_type = rng.choice(["windows", "macos", "linux"])
        return {"id": record_id, "computerName": f"host-{record_id[-4:]}", "osType": os_type, "siteId": site,
                "accountId": account, "agentVersion": "23.4.2.14", "networkStatus": "connected",
                "createdAt": stamp, "updatedAt": stamp}
    if kind == "threats":
        agent = rng.choice(data["agents"]) if data["agents"] else make("agents")
        return {"id": record_id, "createdAt": stamp, "updatedAt": stamp, "siteId": site, "accountId": account,
                "agentRealtimeInfo": {"agentId": agent["id"], "agentOsType": agent["osType"],
                                      "agentComputerName": agent["computerName"]},
                "threatInfo": {"threatId": record_id, "classification": rng.choice(["Trojan", "Ransomware", "Malware"]),
                               "detectionType": rng.choice(["dynamic", "static"]), "mitigationStatus": "not_mitigated",
                               "threatName": f"evil-{record_id[-4:]}.exe", "confidenceLevel": "malicious",
                               "createdAt": stamp, "updatedAt": stamp},
                "indicators": [{"category": "Evasion", "description": "Suspicious registry key",
                                "tactics": [{"name": "Defense Evasion", "source": "MITRE",
                                             "techniques": [{"name": "T1112", "link": "https://attack.mitre.org/techniques/T1112/"}]}]}]}
    if kind == "alerts":
        # As the API shows alerts: no top-level id or times, those are in alertInfo.
        return {"agentDetectionInfo": {"siteId": site, "accountId": account, "name": f"host-{record_id[-4:]}"},
                "ruleInfo": {"name": "Suspicious login", "severity": rng.choice(["Low", "High"])},
                "alertInfo": {"alertId": record_id, "eventType": "LOGIN", "createdAt": stamp, "updatedAt": stamp,
                              "reportedAt": stamp, "analystVerdict": "UNDEFINED"}}
    if kind == "rogues":
        # A device found unprotected: seen first and last, no updatedAt.
        return {"id": record_id, "firstSeen": stamp, "lastSeen": stamp, "siteId": site, "accountId": account,
                "localIp": f"10.0.{rng.randint(0, 255)}.{rng.randint(1, 254)}", "macAddress": "00:11:22:33:44:55"}
    if kind == "risks":
        # One CVE of one application on one endpoint, as the API shows it: no createdAt or updatedAt.
        name = rng.choice(["openssl", "chrome", "zoom"])
        version = f"{rng.randint(1, 9)}.0"
        risk_updated[record_id] = risk_changed()
        return {"id": record_id, "cveId": f"CVE-2026-{rng.randint(1000, 99999)}", "application": f"{name} {version}",
                "applicationName": name, "applicationVendor": "Vendor Inc.", "applicationVersion": version,
                "baseScore": rng.choice(["5.3", "9.8"]), "severity": rng.choice(["MEDIUM", "CRITICAL"]),
                "endpointId": str(rng.randint(10**17, 10**18)), "endpointName": f"host-{record_id[-4:]}",
                "detectionDate": stamp, "publishedDate": "2026-01-15T00:00:00.000000Z", "lastScanDate": stamp,
                "lastScanResult": "Succeeded", "status": "Detected", "siteId": site, "accountId": account}
    if kind == "applications":
        return {"id": record_id, "createdAt": stamp, "updatedAt": stamp, "siteId": site, "accountId": account,
                "name": rng.choice(["openssl", "chrome", "zoom"]), "version": f"{rng.randint(1, 9)}.0",
                "riskLevel": rng.choice(["none", "high", "critical"])}
    raise KeyError(kind)


def add(kind, records=None, count=0):
    added = records if records is not None else [make(kind) for _ in range(count)]
    for record in added:
        data[kind].append(record)
        if kind == "risks":
            risk_updated.setdefault(record["id"], risk_changed())
        if kind == "threats":
            if rng.random() < 0.7:
                threat_events[record["id"]] = [{"id": str(next(ids)), "threatId": record["id"], "eventType": "Process Creation",
                                                "createdAt": now()} for _ in range(rng.randint(1, 3))]
            threat_notes[record["id"]] = [{"id": str(next(ids)), "text": f"note {n}", "createdAt": now()}
                                          for n in range(rng.randint(0, 2))]
        if kind == "applications":
            cves[record["id"]] = [{"cveId": f"CVE-2026-{rng.randint(1000, 99999)}", "score": rng.choice([5.3, 9.8])}
                                  for _ in range(rng.randint(0, 2))]
    return added


def update(kind, chosen, add_children=False):
    touched = []
    for record in data[kind]:
        if view(kind, record)["id"] in chosen:
            stamp = now()
            if kind == "alerts":
                record["alertInfo"]["updatedAt"] = stamp
                record["alertInfo"]["analystVerdict"] = rng.choice(["TRUE_POSITIVE", "FALSE_POSITIVE"])
            elif kind == "rogues":
                record["lastSeen"] = stamp
            elif kind == "risks":
                risk_updated[record["id"]] = risk_changed()
                record["lastScanDate"] = stamp
                record["status"] = rng.choice(["Detected", "Removed"])
            else:
                record["updatedAt"] = stamp
            if kind == "threats":
                record["threatInfo"]["updatedAt"] = stamp
                record["threatInfo"]["mitigationStatus"] = rng.choice(["mitigated", "marked_as_benign"])
                if add_children:
                    threat_events.setdefault(record["id"], []).append(
                        {"id": str(next(ids)), "threatId": record["id"], "eventType": "File Modification",
                         "createdAt": now()})
                    threat_notes.setdefault(record["id"], []).append(
                        {"id": str(next(ids)), "text": "analyst note", "createdAt": now()})
            else:
                record["revision"] = record.get("revision", 0) + 1
            touched.append(record)
    return touched


def view(kind, record):
    """The fields an endpoint filters and sorts a record on, by their query names."""
    if kind == "alerts":
        info, agent = record["alertInfo"], record["agentDetectionInfo"]
        return {"id": info["alertId"], "createdAt": info["createdAt"], "reportedAt": info["reportedAt"],
                "alertInfoCreatedAt": info["createdAt"], "alertInfoReportedAt": info["reportedAt"],
                "severity": record["ruleInfo"]["severity"], "siteId": agent["siteId"], "accountId": agent["accountId"]}
    if kind == "risks":
        return dict(record, riskUpdatedDate=risk_updated[record["id"]])
    return record


def invalid(kind, query):
    """Why the console refuses `query` for the list of `kind`, or None."""
    for key in query:
        if "__" in key and key.split("__", 1)[0] not in FILTERS.get(kind, DEFAULT_FILTERS):
            return f"unknown filter {key}"
    sort_by = query.get("sortBy", [None])[0]
    if sort_by is not None and sort_by not in SORTS.get(kind, DEFAULT_SORTS):
        return f"sortBy must be one of {sorted(SORTS.get(kind, DEFAULT_SORTS))}"
    return None


def matches(record, query):
    for key, values in query.items():
        value = values[0]
        if "__" in key:
            field, op = key.split("__", 1)
            if field not in record:
                continue
            have = record[field]
            if op == "gt" and not have > value or op == "gte" and not have >= value \
                    or op == "lt" and not have < value or op == "lte" and not have <= value:
                return False
        elif key == "siteIds" and record.get("siteId") not in value.split(","):
            return False
        elif key == "accountIds" and record.get("accountId") not in value.split(","):
            return False
        elif key == "ids" and record["id"] not in value.split(","):
            return False
    return True


def page(records, query, kind=None):
    """Keyset paging: the cursor holds the sort key of the last record handed out."""
    sort_by = query.get("sortBy", ["id"])[0]
    descending = query.get("sortOrder", ["asc"])[0] == "desc"
    limit = int(query.get("limit", ["10"])[0])
    if not 1 <= limit <= 1000:
        return 400, {"errors": [{"code": 4000010, "detail": "limit must be between 1 and 1000", "title": "Validation Error"}]}
    # Numeric ids compare as numbers (shorter first), others (CVE ids) as text.
    def key(record):
        flat = view(kind, record)
        return (str(flat.get(sort_by, "")), len(str(flat["id"])), str(flat["id"]))
    ordered = sorted((r for r in records if matches(view(kind, r), query)), key=key, reverse=descending)
    if "cursor" in query:
        try:
            after = tuple(json.loads(base64.b64decode(query["cursor"][0])))
        except Exception:
            return 400, {"errors": [{"code": 4000010, "detail": "invalid cursor", "title": "Validation Error"}]}
        ordered = [r for r in ordered if (key(r) < after if descending else key(r) > after)]
    chunk = ordered[:limit]
    cursor = None
    if len(ordered) > limit:
        cursor = base64.b64encode(json.dumps(list(key(chunk[-1]))).encode()).decode()
    return 200, {"data": chunk, "pagination": {"nextCursor": cursor, "totalItems": len(ordered)}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without this, Nagle's algorithm and the client's delayed ACK
    # hold every answer for 40 ms.
    disable_nagle_algorithm = True

    def date_time_string(self, timestamp=None):
        return super().date_time_string((time.time() if timestamp is None else timestamp) + date_skew[0])

    def reply_raw(self, status, raw, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def reply(self, status, body, headers=None):
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def handle_any(self, method):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null") if length else None
        with lock:
            if url.path.startswith("/_sim/"):
                return self.control(method, url.path, query, body)
            token = (self.headers.get("Authorization") or "").removeprefix("ApiToken ")
            requests_log.append({"method": method, "path": url.path, "query": url.query, "token": token, "body": body})
            for fault in faults:
                if fault["count"] > 0 and url.path.startswith(fault.get("path", "/")):
                    if fault.get("after", 0) > 0:
                        fault["after"] -= 1
                        continue
                    fault["count"] -= 1
                    headers = {"Retry-After": str(fault["retry_after"])} if fault.get("retry_after") is not None else {}
                    if fault.get("location"):
                        headers["Location"] = fault["location"]
                    if "body" in fault:
                        return self.reply_raw(fault["status"], fault["body"].encode(), headers)
                    return self.reply(fault["status"], {"errors": [{"code": fault["status"], "title": "Injected",
                                                                    "detail": fault.get("detail")}]}, headers)
            if token not in (ADMIN, VIEWER):
                return self.reply(401, {"errors": [{"code": 4010010, "detail": None, "title": "Authentication Failed"}]})
            prefix = "/web/api/v2.1"
            if not url.path.startswith(prefix):
                return self.reply(404, {"errors": [{"code": 4040010, "title": "Resource not found"}]})
            return self.api(method, url.path[len(prefix):].rstrip("/"), query, body, token)

    def api(self, method, path, query, body, token):
        if method == "GET" and path in LIST_TYPES:
            kind = LIST_TYPES[path]
            why = invalid(kind, query)
            if why:
                return self.reply(400, {"errors": [{"code": 4000010, "title": "Validation Error", "detail": why}]})
            return self.reply(*page(data[kind], query, kind))
        parts = path.strip("/").split("/")
        if method == "GET" and len(parts) == 4 and parts[0] == "threats" and parts[2:] == ["explore", "events"]:
            if parts[1] not in threat_events:
                return self.reply(404, {"errors": [{"code": 4040010, "title": "Resource not found"}]})
            return self.reply(*page(threat_events[parts[1]], query))
        if method == "GET" and len(parts) == 3 and parts[0] == "threats" and parts[2] == "notes":
            return self.reply(*page(threat_notes.get(parts[1], []), query))
        if method == "GET" and len(parts) == 4 and parts[:2] == ["private", "installed-applications"] and parts[3] == "cves":
            return self.reply(*page([dict(c, id=c["cveId"]) for c in cves.get(parts[2], [])], query))
        if method == "POST" and path == "/users/api-token-details":
            if ((body or {}).get("data") or {}).get("apiToken") != token:
                return self.reply(400, {"errors": [{"code": 4000010, "title": "Validation Error"}]})
            return self.reply(200, {"data": {"createdAt": "2026-05-01T00:00:00.000000Z", "expiresAt": token_expiry[0]}})
        if method == "POST" and path == "/dv/init-query":
            query_id = f"q{next(ids)}"
            # As the API documents: the events created after fromDate and before or at toDate.
            window = [e for e in dv_events if body["fromDate"] < e["createdAt"] <= body["toDate"]]
            # Each query lists the events in an order of its own unless asked to sort, and events of one
            # createdAt in an order of its own even then, as a console's shards answer.
            shuffle = random.Random(query_id)
            ranks = {e["id"]: f"{shuffle.random():.17f}" for e in window}
            dv_queries[query_id] = {"progress": 0, "events": window, "ranks": ranks, "cancelled": False, "body": body}
            return self.reply(200, {"data": {"queryId": query_id}})
        if method == "GET" and path == "/dv/query-status":
            state = dv_queries.get(query.get("queryId", [""])[0])
            if state is None:
                return self.reply(400, {"errors": [{"code": 4000010, "title": "Validation Error", "detail": "unknown queryId"}]})
            state["progress"] = min(100, state["progress"] + 50)
            status = "CANCELLED" if state["cancelled"] else ("FINISHED" if state["progress"] == 100 else "RUNNING")
            return self.reply(200, {"data": {"progressStatus": state["progress"], "responseState": status}})
        if method == "GET" and path == "/dv/events":
            state = dv_queries.get(query.get("queryId", [""])[0])
            if state is None or state["progress"] < 100:
                return self.reply(400, {"errors": [{"code": 4000010, "title": "Validation Error", "detail": "query not finished"}]})
            sort_by = query.get("sortBy", [None])[0]
            ranked = [dict(e, _key=(e.get(sort_by, "") if sort_by else "") + "|" + state["ranks"][e["id"]])
                      for e in state["events"]]
            status, answer = page(ranked, dict(query, sortBy=["_key"]))
            for event in answer.get("data", []):
                event.pop("_key", None)
            return self.reply(status, answer)
        if method == "POST" and path == "/dv/cancel-query":
            state = dv_queries.get((body or {}).get("queryId", ""))
            if state:
                state["cancelled"] = True
            return self.reply(200, {"data": {"success": True}})
        if method == "POST" and (path.startswith("/agents/actions/") or path.startswith("/threats/mitigate/")):
            if token != ADMIN:
                return self.reply(403, {"errors": [{"code": 4030010, "title": "Insufficient permissions"}]})
            targets = set(((body or {}).get("filter") or {}).get("ids") or [])
            kind = "agents" if path.startswith("/agents/") else "threats"
            return self.reply(200, {"data": {"affected": sum(1 for r in data[kind] if r["id"] in targets)}})
        return self.reply(404, {"errors": [{"code": 4040010, "title": "Resource not found"}]})

    def control(self, method, path, query, body):
        if path == "/_sim/add":
            return self.reply(200, {"data": add(body["type"], body.get("records"), body.get("count", 0))})
        if path == "/_sim/add-dv":
            at = now() if body.get("same_instant") else None
            events = [{"id": str(next(ids)), "createdAt": at or now(), "eventType": "Process Creation",
                       "srcProcName": f"p{n}.exe"} for n in range(body["count"])]
            dv_events.extend(events)
            return self.reply(200, {"data": events})
        if path == "/_sim/update":
            return self.reply(200, {"data": update(body["type"], set(body["ids"]), body.get("add_children", False))})
        if path == "/_sim/delete-child":
            children = (threat_events if body["kind"] == "threat-events" else threat_notes).get(body["threat"], [])
            removed = children.pop(body.get("index", 0)) if children else None
            return self.reply(200, {"data": removed})
        if path == "/_sim/add-child":
            child = {"id": str(next(ids)), "createdAt": body["createdAt"]}
            if body["kind"] == "threat-events":
                threat_events.setdefault(body["threat"], []).append(dict(child, threatId=body["threat"],
                                                                          eventType="File Modification"))
            else:
                threat_notes.setdefault(body["threat"], []).append(dict(child, text="late note"))
            return self.reply(200, {"data": [child]})
        if path == "/_sim/date-skew":
            date_skew[0] = body["seconds"]
            return self.reply(200, {})
        if path == "/_sim/token":
            token_expiry[0] = body["expiresAt"]
            return self.reply(200, {})
        if path == "/_sim/fault":
            faults.append(dict(body))
            return self.reply(200, {})
        if path == "/_sim/data":
            kind = query["type"][0]
            if kind == "threat-events":
                return self.reply(200, {"data": threat_events})
            if kind == "threat-notes":
                return self.reply(200, {"data": threat_notes})
            if kind == "cves":
                return self.reply(200, {"data": cves})
            if kind == "dv":
                return self.reply(200, {"data": dv_events})
            return self.reply(200, {"data": data[kind]})
        if path == "/_sim/requests":
            return self.reply(200, {"data": requests_log})
        return self.reply(404, {})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()

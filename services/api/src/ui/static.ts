/** The console's own stylesheet and script (htmx and its SSE extension come from node_modules). */

export const CSS = `:root{--bg:#f5f6f8;--fg:#1d2330;--muted:#6b7385;--line:#dde1e8;--card:#fff;--accent:#2357c6;--ok:#1c7c3c;--bad:#b3261e;--warn:#9a6700}
*{box-sizing:border-box}body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;background:var(--bg);color:var(--fg)}
header{display:flex;align-items:center;gap:2rem;padding:.7rem 2rem;background:#1d2330;color:#fff}header a{color:#dfe6f5;text-decoration:none}
.brand{font-weight:700;font-size:1.25rem;color:#fff}nav{display:flex;gap:1.4rem;align-items:center;flex:1}nav form{margin-left:auto}
nav a[aria-current]{color:#fff;border-bottom:2px solid #8fb0ff}main{padding:1.5rem 2rem;max-width:1800px;margin:0 auto}h1{margin:.2rem 0 1rem;font-size:1.6rem;word-break:break-all}
h2{font-size:1.15rem;margin:.2rem 0 .8rem}h3{font-size:1rem;margin:1rem 0 .4rem}
table{border-collapse:collapse;width:100%;background:var(--card)}th,td{text-align:left;padding:.45rem .7rem;border-bottom:1px solid var(--line);vertical-align:top}
thead th{font-size:.8rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);background:#eef0f4}
td code,.kv code{font-size:.85rem;word-break:break-all}.kv th{width:12rem;color:var(--muted);font-weight:500}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:1rem 1.2rem;margin-bottom:1.2rem}.narrow{max-width:40rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(32rem,1fr));gap:1.2rem}.grid3{display:grid;grid-template-columns:repeat(3,1fr);gap:1rem}
label{display:block;margin:.5rem 0}label input:not([type=checkbox]),label select{display:block;margin-top:.2rem;padding:.45rem;width:100%;max-width:28rem;border:1px solid #b9c0cc;border-radius:5px;font:inherit}
label.check{display:flex;gap:.5rem;align-items:center}.bar{display:flex;gap:1rem;align-items:end;border:1px solid var(--line);border-radius:8px;margin-top:1rem;background:var(--card)}
.bar label{margin:0}button,.button{font:inherit;padding:.45rem 1rem;border-radius:5px;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer;text-decoration:none;display:inline-block}
button.danger,.danger{border-color:var(--bad);background:var(--bad);color:#fff}a.danger{background:none;color:var(--bad)}button.link{background:none;border:none;color:#dfe6f5;padding:0}
a{color:var(--accent)}.inline{display:inline}.muted{color:var(--muted)}.ok{color:var(--ok);font-weight:600}.bad{color:var(--bad);font-weight:600}
.error{background:#fdecea;border:1px solid #f3b8b3;color:var(--bad);padding:.6rem .9rem;border-radius:6px;word-break:break-word}.notice{background:#fff8e1;border:1px solid #f0d98c;padding:.6rem .9rem;border-radius:6px}
.tag{background:#e8eefc;color:#23408e;border-radius:4px;padding:0 .4rem;font-size:.85rem}.hint{color:var(--muted);font-size:.9rem}
.state{font-weight:600;text-transform:uppercase;font-size:.8rem;letter-spacing:.04em;padding:.1rem .45rem;border-radius:4px;background:#eef0f4}
.state.running{background:#e3ecff;color:#1f49a8}.state.succeeded{background:#e2f4e8;color:var(--ok)}.state.failed{background:#fdecea;color:var(--bad)}.state.cancelled{background:#f0f0f0;color:#555}.state.queued{background:#fff4d6;color:var(--warn)}
.progress{position:relative;height:1.3rem;background:#e6e9ef;border-radius:4px;overflow:hidden;min-width:8rem}.progress>div{height:100%;background:#3f73e0;transition:width .3s}
.progress>span{position:absolute;inset:0;text-align:center;font-size:.8rem;line-height:1.3rem;font-weight:600}
.figures{display:flex;gap:2.5rem;flex-wrap:wrap;margin-bottom:.8rem}.figures .label{display:block;font-size:.75rem;text-transform:uppercase;color:var(--muted)}
.figures>div>span:last-child{font-size:1.25rem}.live .progress{height:1.8rem}.live .progress>span{line-height:1.8rem;font-size:1rem}
.timeline{list-style:none;padding:0;margin:0}.timeline li{display:grid;grid-template-columns:14rem 1fr auto;gap:1rem;padding:.5rem 0;border-bottom:1px solid var(--line)}
.timeline .when{font-variant-numeric:tabular-nums}.actions{display:flex;gap:1rem}.filters{display:flex;gap:1rem;align-items:center}.filters a[aria-current]{font-weight:700;color:var(--fg)}
.paths{max-height:24rem;overflow:auto;padding-left:1.2rem}pre{background:#f0f2f6;padding:.8rem;border-radius:6px;overflow:auto;max-height:30rem}td.err{color:var(--bad);max-width:28rem;word-break:break-word}
.jobs{font-size:.93rem}.jobs td{white-space:nowrap}.jobs td.id a{display:inline-block;max-width:15rem;overflow:hidden;text-overflow:ellipsis;vertical-align:bottom}.jobs td.err{white-space:normal;min-width:14rem}
.entries{list-style:none;padding:0;margin:.4rem 0 0;columns:2}
`;

export const SCRIPT = `(function(){
'use strict';
function fmt(n){if(!(n>=0))return '\\u2014';var u=['B','KiB','MiB','GiB','TiB'],i=0;while(n>=1024&&i<u.length-1){n/=1024;i++}return (i?n.toFixed(n<10?2:1):n)+' '+u[i]}
function dur(ms){var s=Math.max(0,Math.round(ms/1000));if(s<60)return s+' s';if(s<3600)return Math.floor(s/60)+' min '+(s%60)+' s';return Math.floor(s/3600)+' h '+Math.floor(s%3600/60)+' min'}
window.imgportEvents=[];var first=null;
document.addEventListener('htmx:sseBeforeMessage',function(e){
  e.preventDefault();
  var root=document.getElementById('live');if(!root)return;
  var st;try{st=JSON.parse(e.detail.data)}catch(_){return}
  var p=st.progress||{},now=Date.now();
  var rec={at:now,updatedAt:st.updatedAt,state:st.state,phase:p.phase,percent:p.percent};window.imgportEvents.push(rec);
  if(typeof window.imgportOnEvent==='function')window.imgportOnEvent(rec);
  function set(f,v){var el=root.querySelector('[data-f="'+f+'"]');if(el)el.textContent=v;return el}
  var s=set('state',st.state);if(s)s.className='state '+st.state;
  set('phase',p.phase);set('bytes',fmt(p.bytesDone)+' / '+fmt(p.bytesTotal));set('retries',String(Math.max(0,(st.attempts||1)-1)));
  var pct=Math.max(0,Math.min(100,Math.round(p.percent||0)));set('percent',pct+'%');
  var bar=root.querySelector('.progress');if(bar){bar.setAttribute('aria-valuenow',pct);bar.firstElementChild.style.width=pct+'%'}
  if(first===null||p.bytesDone<first.b)first={t:now,b:p.bytesDone};
  var rate=(p.bytesDone-first.b)/(now-first.t);
  set('eta',st.state==='running'&&rate>0&&p.bytesTotal>p.bytesDone?dur((p.bytesTotal-p.bytesDone)/rate):'\\u2014');
  var err=root.querySelector('[data-f="error"]');if(err&&st.error){err.hidden=false;err.textContent=st.error.code+': '+st.error.message}
  if(e.detail.type==='state'){var src=root.closest('[sse-connect]')||root;var es=src['htmx-internal-data']&&src['htmx-internal-data'].sseEventSource;if(es)es.close();setTimeout(function(){location.reload()},300)}
});
document.addEventListener('submit',function(e){
  var f=e.target;if(f.id!=='upload'||!window.FormData||!window.XMLHttpRequest)return;
  e.preventDefault();
  var bar=document.getElementById('upload-progress'),err=document.getElementById('upload-error'),btn=f.querySelector('button');
  bar.hidden=false;err.hidden=true;btn.disabled=true;
  var x=new XMLHttpRequest();x.open('POST',f.action);
  x.upload.onprogress=function(ev){if(!ev.lengthComputable)return;var pct=Math.round(ev.loaded*100/ev.total);bar.firstElementChild.style.width=pct+'%';bar.lastElementChild.textContent=pct+'% of '+fmt(ev.total)};
  x.onload=function(){
    if(x.status<400&&x.responseURL&&x.responseURL.indexOf('/ui/jobs/')>=0){location.href=x.responseURL;return}
    btn.disabled=false;var d=new DOMParser().parseFromString(x.responseText,'text/html');var m=d.querySelector('.error');
    err.textContent=m?m.textContent:('upload failed: HTTP '+x.status);err.hidden=false};
  x.onerror=function(){btn.disabled=false;err.textContent='upload failed: the connection broke';err.hidden=false};
  x.send(new FormData(f));
});
})();
`;

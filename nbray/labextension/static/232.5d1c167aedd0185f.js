"use strict";(self.rspackChunknbray_labextension=self.rspackChunknbray_labextension||[]).push([[232],{475(r,e,t){var o=t(601),a=t.n(o),n=t(314),i=(t.n(n))()(a());i.push([r.id,`/* The nbray sidebar. Colours come from JupyterLab's theme variables. */

.nbray-Sidebar {
  background: var(--jp-layout-color1);
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size1);
  overflow: auto;
  padding: 4px 8px 12px;
  min-width: 320px;
}

.nbray-Sidebar h2 {
  font-size: var(--jp-ui-font-size3);
  margin: 4px 0;
  flex: 1;
}

.nbray-Sidebar h3 {
  font-size: var(--jp-ui-font-size2);
  margin: 12px 0 4px;
}

.nbray-HeaderRow {
  display: flex;
  align-items: center;
}

.nbray-RefreshButton {
  background: none;
  border: none;
  cursor: pointer;
  padding: 2px;
}

.nbray-Target {
  color: var(--jp-ui-font-color2);
  overflow: hidden;
  text-overflow: ellipsis;
  white-space: nowrap;
}

.nbray-Actions {
  margin: 6px 0;
}

.nbray-LoadButton.nbray-mod-hidden {
  display: none;
}

.nbray-Message:empty {
  display: none;
}

.nbray-Message {
  margin: 6px 0;
  padding: 6px;
  border-left: 3px solid var(--jp-brand-color1);
  background: var(--jp-layout-color2);
  font-family: var(--jp-code-font-family);
}

.nbray-Message[data-status='error'] {
  border-left-color: var(--jp-error-color1);
}

.nbray-ClusterSummary {
  margin-bottom: 6px;
}

.nbray-Node {
  margin: 4px 0 8px;
}

/* an attached driver's own store: listed, but not one of the cluster's nodes */
.nbray-Node--driver .nbray-Node-title {
  color: var(--jp-ui-font-color2);
}

.nbray-StoreBar {
  height: 8px;
  border-radius: 4px;
  background: var(--jp-layout-color3);
  margin: 3px 0;
  max-width: 360px;
}

.nbray-StoreBar-used {
  height: 8px;
  border-radius: 4px;
  background: var(--jp-brand-color1);
}

.nbray-Node-stats,
.nbray-Node-spilled {
  color: var(--jp-ui-font-color2);
}

.nbray-Controls,
.nbray-Pager {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 4px;
  margin: 4px 0;
}

.nbray-Filter {
  flex: 1;
  min-width: 140px;
}

.nbray-ObjectTableBody {
  overflow-x: auto;
}

.nbray-Table {
  border-collapse: collapse;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  width: 100%;
}

.nbray-Table th,
.nbray-Table td {
  text-align: left;
  padding: 2px 6px;
  border-bottom: 1px solid var(--jp-border-color2);
  white-space: nowrap;
  vertical-align: top;
}

.nbray-Table th.nbray-Sortable {
  cursor: pointer;
}

/* Long cells are cut with an ellipsis; the full text is in their title. */
.nbray-ObjectTable td.nbray-ObjectId {
  max-width: 12ch;
  overflow: hidden;
  text-overflow: ellipsis;
}

.nbray-ObjectTable td.nbray-Cut {
  max-width: 24ch;
  overflow: hidden;
  text-overflow: ellipsis;
}

.nbray-Where-spilled {
  color: var(--jp-warn-color1);
}

.nbray-State-RUNNING,
.nbray-State-ALIVE {
  color: var(--jp-success-color1);
}

.nbray-State-DEAD {
  color: var(--jp-error-color1);
}

.nbray-Empty,
.nbray-More {
  color: var(--jp-ui-font-color2);
  font-style: italic;
}
`,""]),t.d(e,{},{A:i})},314(r){r.exports=function(r){var e=[];return e.toString=function(){return this.map(function(e){var t="",o=void 0!==e[5];return e[4]&&(t+="@supports (".concat(e[4],") {")),e[2]&&(t+="@media ".concat(e[2]," {")),o&&(t+="@layer".concat(e[5].length>0?" ".concat(e[5]):""," {")),t+=r(e),o&&(t+="}"),e[2]&&(t+="}"),e[4]&&(t+="}"),t}).join("")},e.i=function(r,t,o,a,n){"string"==typeof r&&(r=[[null,r,void 0]]);var i={};if(o)for(var s=0;s<this.length;s++){var l=this[s][0];null!=l&&(i[l]=!0)}for(var c=0;c<r.length;c++){var p=[].concat(r[c]);o&&i[p[0]]||(void 0!==n&&(void 0===p[5]||(p[1]="@layer".concat(p[5].length>0?" ".concat(p[5]):""," {").concat(p[1],"}")),p[5]=n),t&&(p[2]&&(p[1]="@media ".concat(p[2]," {").concat(p[1],"}")),p[2]=t),a&&(p[4]?(p[1]="@supports (".concat(p[4],") {").concat(p[1],"}"),p[4]=a):p[4]="".concat(a)),e.push(p))}},e}},601(r){r.exports=function(r){return r[1]}},72(r){var e=[];function t(r){for(var t=-1,o=0;o<e.length;o++)if(e[o].identifier===r){t=o;break}return t}function o(r,o){for(var a={},n=[],i=0;i<r.length;i++){var s=r[i],l=o.base?s[0]+o.base:s[0],c=a[l]||0,p="".concat(l," ").concat(c);a[l]=c+1;var d=t(p),u={css:s[1],media:s[2],sourceMap:s[3],supports:s[4],layer:s[5]};if(-1!==d)e[d].references++,e[d].updater(u);else{var f=function(r,e){var t=e.domAPI(e);return t.update(r),function(e){e?(e.css!==r.css||e.media!==r.media||e.sourceMap!==r.sourceMap||e.supports!==r.supports||e.layer!==r.layer)&&t.update(r=e):t.remove()}}(u,o);o.byIndex=i,e.splice(i,0,{identifier:p,updater:f,references:1})}n.push(p)}return n}r.exports=function(r,a){var n=o(r=r||[],a=a||{});return function(r){r=r||[];for(var i=0;i<n.length;i++){var s=t(n[i]);e[s].references--}for(var l=o(r,a),c=0;c<n.length;c++){var p=t(n[c]);0===e[p].references&&(e[p].updater(),e.splice(p,1))}n=l}}},659(r){var e={};r.exports=function(r,t){var o=function(r){if(void 0===e[r]){var t=document.querySelector(r);if(window.HTMLIFrameElement&&t instanceof window.HTMLIFrameElement)try{t=t.contentDocument.head}catch(r){t=null}e[r]=t}return e[r]}(r);if(!o)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");o.appendChild(t)}},540(r){r.exports=function(r){var e=document.createElement("style");return r.setAttributes(e,r.attributes),r.insert(e,r.options),e}},56(r,e,t){r.exports=function(r){var e=t.nc;e&&r.setAttribute("nonce",e)}},825(r){r.exports=function(r){if("u"<typeof document)return{update:function(){},remove:function(){}};var e=r.insertStyleElement(r);return{update:function(t){var o,a,n;o="",t.supports&&(o+="@supports (".concat(t.supports,") {")),t.media&&(o+="@media ".concat(t.media," {")),(a=void 0!==t.layer)&&(o+="@layer".concat(t.layer.length>0?" ".concat(t.layer):""," {")),o+=t.css,a&&(o+="}"),t.media&&(o+="}"),t.supports&&(o+="}"),(n=t.sourceMap)&&"u">typeof btoa&&(o+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(n))))," */")),r.styleTagTransform(o,e,r.options)},remove:function(){var r;null===(r=e).parentNode||r.parentNode.removeChild(r)}}}},113(r){r.exports=function(r,e){if(e.styleSheet)e.styleSheet.cssText=r;else{for(;e.firstChild;)e.removeChild(e.firstChild);e.appendChild(document.createTextNode(r))}}},579(r,e,t){var o=t(72),a=t.n(o),n=t(825),i=t.n(n),s=t(659),l=t.n(s),c=t(56),p=t.n(c),d=t(540),u=t.n(d),f=t(113),b=t.n(f),y=t(475),v={};v.styleTagTransform=b(),v.setAttributes=p(),v.insert=l().bind(null,"head"),v.domAPI=i(),v.insertStyleElement=u(),a()(y.A,v),y.A&&y.A.locals&&y.A.locals}}]);